import type { Server, Socket } from 'node:net';
import { clientGroup, normalizeAddress } from './client-limits.ts';
import { rawErrorResponse } from './http-errors.ts';

export interface ConnectionAdmissionConfig {
  /** TCP connections one address may hold open at once. */
  maxSockets: number;
  /** New connections per second one address may open once its burst (maxSockets) is spent. */
  connectRate: number;
  /** Peers not limited here (trusted proxies: their clients are told apart by X-Forwarded-For, later). */
  exempt: ReadonlySet<string>;
  /** Answer a refusal with an HTTP 429 (false on a TLS port, where plain text would only be a handshake error). */
  answer: boolean;
  /** Told of a refusal at most once a minute (a flood must not become a flood of log lines). */
  onRefusal?: (address: string, reason: keyof AdmissionRefusals) => void;
}

/** Connections refused at accept, by reason. */
export type AdmissionRefusals = {
  client_sockets: number;
  client_connect_rate: number;
};

/** One address: its open sockets and its connect-rate token bucket. */
interface Entry {
  sockets: number;
  tokens: number;
  /** performance.now() of the last refill. */
  refilledAt: number;
}

/**
 * Addresses tracked at most: beyond, the idle ones are dropped, and while all of them hold sockets a new address
 * passes untracked (the server's own caps still hold) rather than being locked out.
 */
const MAX_ADDRESSES = 10_000;
/** A full table is swept at most this often, so that address churn cannot make every accept a sweep. */
const SWEEP_EVERY_MS = 1000;
/** How long a refused socket may stay open so that its peer reads the 429 instead of a reset. */
const REFUSED_LINGER_MS = 1000;
/** At most one onRefusal call this often. */
const REFUSAL_NOTICE_EVERY_MS = 60_000;
/** The same bytes for every refusal: nothing is built per refused connection. */
const REFUSAL = Buffer.from(rawErrorResponse(429, 'too many connections from this address\n', { 'Retry-After': '5' }));

function ignore(): void {}
function destroySocket(this: Socket): void {
  this.destroy();
}

/**
 * Admits or refuses each TCP connection when it is accepted, per peer address (an IPv6 one by its /64: clientGroup),
 * before the HTTP server sees it: at most maxSockets open at once and a connect rate of connectRate per second (a
 * token bucket of maxSockets). A refused connection gets one precomputed 429 and is closed: no HTTP parser, no
 * request, no upgrade. An address that retries refused handshakes many times a second then costs the server an
 * accept and a write each.
 */
export class ConnectionAdmission {
  private readonly table = new Map<string, Entry>();
  readonly refusals: AdmissionRefusals = { client_sockets: 0, client_connect_rate: 0 };
  private readonly release: (this: Socket) => void;
  private sweptAt = -Infinity;
  private noticedAt = -Infinity;

  constructor(private readonly config: ConnectionAdmissionConfig) {
    const table = this.table;
    this.release = function (this: Socket) {
      const entry = table.get(clientGroup(this.remoteAddress ?? ''));
      if (entry) entry.sockets--;
    };
  }

  /**
   * Puts admission in front of `server`'s own 'connection' handling (http.Server attaches its parser there, a TLS
   * server its handshake): the handlers it has now run only for admitted sockets. `answer`: whether a refusal gets the
   * HTTP 429 there (not on a port that speaks another protocol).
   */
  guard(server: Server, answer = this.config.answer): void {
    const handlers = server.listeners('connection') as Array<(this: Server, socket: Socket) => void>;
    server.removeAllListeners('connection');
    const admit = (socket: Socket) => this.admit(socket, answer);
    server.on('connection', function (this: Server, socket: Socket) {
      if (admit(socket)) for (const handler of handlers) handler.call(this, socket);
    });
  }

  /** True to go on with the socket; false when it was refused (answered and closing, or closed). */
  admit(socket: Socket, answer = this.config.answer): boolean {
    const address = normalizeAddress(socket.remoteAddress ?? '');
    if (this.config.exempt.has(address)) return true;
    const now = performance.now();
    const group = clientGroup(address);
    let entry = this.table.get(group);
    if (!entry) {
      if (this.table.size >= MAX_ADDRESSES && !this.sweep(now)) return true;
      entry = { sockets: 0, tokens: this.config.maxSockets, refilledAt: now };
      this.table.set(group, entry);
    } else {
      this.refill(entry, now);
    }
    if (entry.sockets >= this.config.maxSockets) return this.refuse(socket, address, now, 'client_sockets', answer);
    if (entry.tokens < 1) return this.refuse(socket, address, now, 'client_connect_rate', answer);
    entry.tokens--;
    entry.sockets++;
    socket.on('close', this.release);
    return true;
  }

  private refill(entry: Entry, now: number): void {
    entry.tokens = Math.min(this.config.maxSockets, entry.tokens + ((now - entry.refilledAt) / 1000) * this.config.connectRate);
    entry.refilledAt = now;
  }

  /** Drops the addresses that hold no socket and whose bucket is full again (as if never seen); true if any went. */
  private sweep(now: number): boolean {
    if (now - this.sweptAt < SWEEP_EVERY_MS) return false;
    this.sweptAt = now;
    for (const [address, entry] of this.table) {
      if (entry.sockets > 0) continue;
      this.refill(entry, now);
      if (entry.tokens >= this.config.maxSockets) this.table.delete(address);
    }
    return this.table.size < MAX_ADDRESSES;
  }

  private refuse(socket: Socket, address: string, now: number, reason: keyof AdmissionRefusals, answer: boolean): false {
    this.refusals[reason]++;
    if (this.config.onRefusal && now - this.noticedAt >= REFUSAL_NOTICE_EVERY_MS) {
      this.noticedAt = now;
      this.config.onRefusal(address, reason);
    }
    socket.on('error', ignore);
    if (!answer) {
      socket.destroy();
      return false;
    }
    // Read and drop what the peer sends: closing with its request unread would reset the connection, and the peer
    // could lose the 429 before reading it. The peer closes on reading it; the timeout covers one that does not.
    socket.resume();
    socket.setTimeout(REFUSED_LINGER_MS);
    socket.on('timeout', destroySocket);
    socket.end(REFUSAL);
    return false;
  }
}
