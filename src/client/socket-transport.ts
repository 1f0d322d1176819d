/**
 * One WebSocket to /ws/stream, in browsers (native WebSocket) and Node (`ws`, loaded on demand so that bundles for
 * browsers never contain it): the token in the handshake, a connect deadline, a ping heartbeat that finds a dead
 * peer, and why a failed attempt failed. Reconnecting is the client's (earshot-client.ts).
 */
import { SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX } from '../protocol/seed-messages.ts';
import { EarshotError } from './client-codec.ts';

/** The part of the browser's WebSocket the client uses (`ws` has the same shape). */
export interface SocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  // Handlers take `any`: the DOM and `ws` event types differ; only .data, .code, .reason and .message are read.
  onopen: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  send(data: string | ArrayBuffer | ArrayBufferView): void;
  close(code?: number, reason?: string): void;
  /** `ws` only: drop the connection without a close handshake. */
  terminate?(): void;
}

/** What a socket factory gets besides the URL (headers and origin only work in Node). */
export interface SocketInit {
  protocols: string[];
  headers: Record<string, string>;
  origin?: string;
  timeoutMs: number;
  localAddress?: string;
}

export type SocketFactory = (url: string, init: SocketInit) => SocketLike;

/**
 * connecting: first attempt; connected: open; reconnecting: lost, retrying; idle (with reconnect): the server closed
 * the unused connection (4408, no stt_start in time) and a new one opens on start() or wake(); closed: for good.
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'idle' | 'closed';

export interface ConnectionInfo {
  /** Failed attempts since the last successful open. */
  attempt: number;
  /** When reconnecting: milliseconds until the next attempt. */
  retryInMs?: number;
}

export const OPEN = 1;
const CONNECTING = 0;
/** A close handshake not answered in this long is cut. */
const CLOSE_WAIT_MS = 3000;
/** Held out of `import()` so that bundlers leave `ws` alone: browsers never load it. */
const WS_MODULE = 'ws';

export function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
}

export async function defaultSocketFactory(): Promise<SocketFactory> {
  if (isNode()) {
    type WsCtor = new (url: string, protocols: string[], options: object) => SocketLike;
    const WS = ((await import(/* @vite-ignore */ WS_MODULE)) as { default: WsCtor }).default;
    return (url, init) =>
      new WS(url, init.protocols, { headers: init.headers, origin: init.origin, handshakeTimeout: init.timeoutMs, perMessageDeflate: false, localAddress: init.localAddress });
  }
  return (url, init) => new WebSocket(url, init.protocols) as unknown as SocketLike;
}

export interface TransportOptions {
  url: string;
  token?: string;
  origin?: string;
  headers?: Record<string, string>;
  localAddress?: string;
  timeoutMs: number;
  /** Ping this often once open (0: never). */
  pingIntervalMs: number;
  /** Heard nothing (not even a pong) this long: dead. */
  deadAfterMs: number;
}

/** What a transport tells its client; nothing after dispose(). */
export interface TransportEvents {
  open(): void;
  text(data: string): void;
  /** Why the attempt failed, before its close (with `status` when the server refused the upgrade). */
  error(e: Error): void;
  closed(code: number | undefined, reason: string | undefined): void;
  /** No connection within the deadline, or silent too long once open: the client drops it. */
  dead(e?: Error): void;
}

/** One socket's life: handshake, connect deadline and heartbeat. The factory may throw (from the constructor). */
export class SocketTransport {
  readonly socket: SocketLike;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastHeard = 0;

  constructor(factory: SocketFactory, options: TransportOptions, events: TransportEvents) {
    const node = isNode();
    const headers: Record<string, string> = { ...options.headers };
    if (options.token && node) headers.Authorization = `Bearer ${options.token}`;
    // Browsers cannot set headers on a WebSocket: the token goes in the subprotocol list.
    const protocols = options.token && !node ? [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + options.token] : [];
    const s = factory(options.url, { protocols, headers, origin: options.origin, timeoutMs: options.timeoutMs, localAddress: options.localAddress });
    this.socket = s;
    s.binaryType = 'arraybuffer';
    s.onopen = () => {
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      this.lastHeard = Date.now();
      this.startHeartbeat(options, events);
      events.open();
    };
    s.onmessage = (ev: { data: unknown }) => {
      this.lastHeard = Date.now();
      if (typeof ev.data === 'string') events.text(ev.data);
    };
    s.onerror = (ev: { message?: string; error?: { message?: string } }) => {
      // A close event follows; keep what the error said for a connect() that fails.
      const text = ev?.message ?? ev?.error?.message ?? 'WebSocket error';
      const status = /Unexpected server response: (\d+)/.exec(text)?.[1];
      events.error(
        status ? Object.assign(new Error(`WebSocket upgrade refused: HTTP ${status}`), { status: Number(status) }) : new Error(`WebSocket connection failed: ${text}`),
      );
    };
    s.onclose = (ev: { code?: number; reason?: string }) => events.closed(ev.code, ev.reason);
    this.connectTimer = setTimeout(() => {
      if (s.readyState !== OPEN) events.dead(new EarshotError('TIMEOUT', `no connection within ${options.timeoutMs} ms`));
    }, options.timeoutMs);
  }

  /** Sends a text frame if the socket is open; false otherwise. */
  sendText(text: string): boolean {
    if (this.socket.readyState !== OPEN) return false;
    this.socket.send(text);
    return true;
  }

  /**
   * A close handshake, if the socket is open or opening (false otherwise): `done` is called once it has closed, or
   * after CLOSE_WAIT_MS with the socket cut.
   */
  close(code: number, reason: string, done: (code: number, reason: string) => void): boolean {
    const s = this.socket;
    if (s.readyState !== OPEN && s.readyState !== CONNECTING) return false;
    const timer = setTimeout(() => {
      s.terminate?.();
      done(code, reason);
    }, CLOSE_WAIT_MS);
    s.onclose = (ev: { code?: number; reason?: string }) => {
      clearTimeout(timer);
      done(ev.code ?? code, String(ev.reason ?? reason));
    };
    s.close(code, reason);
    return true;
  }

  stopTimers(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.connectTimer = this.pingTimer = null;
  }

  /** Stops the timers and hears nothing more; `drop` also cuts the socket. */
  dispose(drop: boolean): void {
    this.stopTimers();
    const s = this.socket;
    s.onopen = s.onclose = s.onerror = s.onmessage = null;
    if (!drop) return;
    try {
      if (s.terminate) s.terminate();
      else s.close();
    } catch {
      // already closed
    }
  }

  private startHeartbeat(options: TransportOptions, events: TransportEvents): void {
    if (options.pingIntervalMs <= 0) return;
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > options.deadAfterMs) events.dead();
      else this.sendText(JSON.stringify({ type: 'ping' }));
    }, options.pingIntervalMs);
  }
}
