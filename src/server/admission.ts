import type { IncomingMessage } from 'node:http';
import type { Server } from 'node:net';
import { ClientLimits } from './client-limits.ts';
import type { ServerConfig } from './config.ts';
import { ConnectionAdmission, type AdmissionRefusals } from './connection-admission.ts';
import type { Logger } from './logger.ts';
import { isLoopbackHost, originAllowed, requestToken, signedTokenValid, STREAM_SCOPE, tokenMatches } from './security.ts';

/**
 * Where a client comes in: `stream` a WebSocket handshake (a signed stream token also passes), `api` the /v1 routes,
 * `metrics` /metrics, `wyoming` a Wyoming TCP connection (Home Assistant sends no token and no origin).
 */
export type Entry = 'stream' | 'api' | 'metrics' | 'wyoming';

/** Why a client is turned away: the metric's reason, the HTTP status and code, one line for the client. */
export interface Refusal {
  reason: string;
  status: number;
  code: string;
  message: string;
  headers?: Record<string, string>;
}

export interface AdmissionRequest {
  /** The client (see clientAddress; a PROXY header's source on Wyoming); needed where a connection is taken. */
  address?: string;
  /** The HTTP request and its URL (none on Wyoming). */
  req?: IncomingMessage;
  url?: URL;
  /** The route's own check of the request (a handshake's query), run before a per-client connection is taken. */
  validate?: () => string | undefined;
}

/** What the server tells admission of its state. */
export interface AdmissionState {
  readonly draining: boolean;
  /** At --max-sessions. */
  readonly full: boolean;
  /** Open connections (WebSocket and Wyoming). */
  readonly connections: number;
}

/** Which checks each entry runs, in order. */
const CHECKS: Record<Entry, { capacity: boolean; sessions: boolean; origin: boolean; token: boolean; connection: boolean }> = {
  stream: { capacity: true, sessions: true, origin: true, token: true, connection: true },
  api: { capacity: false, sessions: false, origin: true, token: true, connection: false },
  metrics: { capacity: false, sessions: false, origin: false, token: true, connection: false },
  wyoming: { capacity: true, sessions: false, origin: false, token: false, connection: true },
};

const RETRY = { 'Retry-After': '5' };

/**
 * The one admission check of every entry: on accept, per peer address (sockets and connect rate, before any HTTP is
 * read); then per request: drain, capacity, browser origin, token, and the client's share of connections. An admitted
 * `stream` or `wyoming` client holds one of its connections until release().
 */
export class Admission {
  readonly clients: ClientLimits;
  /** Peers whose X-Forwarded-For or PROXY header names the client. */
  readonly trustedProxies: ReadonlySet<string>;
  private readonly sockets: ConnectionAdmission;
  private readonly sameOriginByHost: boolean;

  constructor(
    private readonly config: ServerConfig,
    private readonly state: AdmissionState,
    private readonly log: Logger,
  ) {
    this.clients = new ClientLimits(config);
    this.trustedProxies = new Set(config.trustedProxies);
    // A page that reached a loopback-only server under a foreign name did so by DNS rebinding: Host is not trusted.
    this.sameOriginByHost = !isLoopbackHost(config.host);
    this.sockets = new ConnectionAdmission({
      maxSockets: config.maxSocketsPerClient ?? 2 * config.maxConnectionsPerClient,
      connectRate: config.connectRatePerClient ?? config.maxConnectionsPerClient,
      exempt: this.trustedProxies,
      answer: !config.tls,
      // A balancer or proxy not named as trusted looks like one client holding everyone's connections.
      onRefusal: (address, reason) =>
        log.warn({ address, reason }, `refusing connections from ${address} (${reason}); if it is a balancer or proxy, name it in EARSHOT_TRUSTED_PROXIES`),
    });
  }

  /** Connections refused on accept, by reason. */
  get socketRefusals(): AdmissionRefusals {
    return this.sockets.refusals;
  }

  /** Puts the per-address accept check in front of a listener (`answer`: a refusal gets an HTTP 429 there). */
  guard(server: Server, answer?: boolean): void {
    this.sockets.guard(server, answer);
  }

  /** Undefined when the client may go on (holding a connection, for `stream` and `wyoming`); else why not. */
  check(entry: Entry, request: AdmissionRequest): Refusal | undefined {
    const checks = CHECKS[entry];
    const { req, url, address } = request;
    if (checks.capacity && this.state.draining) return { reason: 'shutting_down', status: 503, code: 'SHUTTING_DOWN', message: 'draining' };
    if (checks.sessions && this.state.full) return { reason: 'full', status: 503, code: 'OVERLOADED', message: 'at --max-sessions' };
    if (checks.origin && req && !originAllowed(req, this.config.allowedOrigins, this.sameOriginByHost)) {
      this.log.warn(`refused ${entry === 'stream' ? 'WebSocket' : 'request'} from origin ${req.headers.origin}`);
      return { reason: 'origin', status: 403, code: 'FORBIDDEN_ORIGIN', message: `origin ${req.headers.origin} is not allowed; add it to EARSHOT_ALLOWED_ORIGINS` };
    }
    if (checks.token && req && url && !this.tokenPasses(entry, requestToken(req, url))) return tokenRefusal(entry);
    if (checks.capacity && this.state.connections >= this.config.maxConnections) {
      return { reason: 'connections', status: 503, code: 'OVERLOADED', message: 'too many connections', headers: RETRY };
    }
    const invalid = request.validate?.();
    if (invalid) return { reason: 'bad_request', status: 400, code: 'BAD_REQUEST', message: invalid };
    if (checks.connection && address !== undefined && !this.clients.tryConnect(address)) {
      const message = `too many connections from ${address} (at most ${this.config.maxConnectionsPerClient})`;
      return { reason: 'client_connections', status: 429, code: 'CLIENT_LIMIT', message, headers: RETRY };
    }
    return undefined;
  }

  /** Gives back the connection an admitted `stream` or `wyoming` client held. */
  release(address: string): void {
    this.clients.disconnect(address);
  }

  private tokenPasses(entry: Entry, given: string | undefined): boolean {
    const token = this.config.token;
    if (!token || tokenMatches(token, given)) return true;
    return entry === 'stream' && given !== undefined && signedTokenValid(token, given, STREAM_SCOPE);
  }
}

function tokenRefusal(entry: Entry): Refusal {
  const message =
    entry === 'stream'
      ? 'missing, wrong or expired token (Authorization: Bearer, ?token=, or subprotocol token.T)'
      : 'missing or wrong token: send "Authorization: Bearer TOKEN" or ?token=TOKEN';
  return { reason: 'token', status: 401, code: 'UNAUTHORIZED', message, headers: { 'WWW-Authenticate': 'Bearer' } };
}
