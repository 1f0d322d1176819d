/**
 * The client end of /ws/stream: typed messages, listeners, and a connection that comes back by itself (exponential
 * backoff with a cap, a ping heartbeat that notices dead connections). DOM-free: the socket comes from a factory,
 * so node tests can drive it with the `ws` package.
 */
import type { ReconnectConfig } from '../config.ts';
import { parseServerMessage, type ClientMessage, type ServerMessage, type ServerMessageOf, type ServerMessageType } from './protocol.ts';

/** The part of the browser WebSocket this client uses (the `ws` package has the same shape). */
export interface SocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  binaryType: string;
  // Handlers take `any`: the DOM and `ws` event types differ, and only `.data` is read.
  onopen: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  send(data: string | ArrayBuffer): void;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string) => SocketLike;

/**
 * connecting: first attempt; connected: open; reconnecting: lost, retrying; idle: the server closed the unused
 * connection (close code 4408, no stt_start in time), a new one opens on wake(); closed: close() was called.
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'idle' | 'closed';

/** The server's close code for a connection that sent no stt_start in time: not a failure, nothing to retry. */
const CLOSE_START_TIMEOUT = 4408;

export interface ConnectionInfo {
  /** Failed attempts since the last successful open. */
  attempt: number;
  /** When reconnecting: milliseconds until the next attempt. */
  retryInMs?: number;
}

export interface SttSocketOptions {
  url: string;
  createSocket: SocketFactory;
  reconnect: ReconnectConfig;
  /** Ping every this many ms while connected (0: never). Default 15 000. */
  pingIntervalMs?: number;
  /** Give up on a connection that has heard nothing (not even a pong) for this long. Default 45 000. */
  deadAfterMs?: number;
  /** Abandon an attempt still connecting after this long. Default 8 000. */
  connectTimeoutMs?: number;
  /** Audio frames are dropped while more than this many bytes wait to be sent (slow link). Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Source of jitter in [0, 1); tests pass () => 0.5 for exact delays. */
  random?: () => number;
}

const OPEN = 1;

/** Delay before reconnect attempt number `attempt` (0-based): initial·2^attempt, capped, ±20 % jitter. */
export function backoffDelay(attempt: number, config: ReconnectConfig, random: () => number = Math.random): number {
  const base = Math.min(config.maxDelayMs, config.initialDelayMs * 2 ** Math.min(attempt, 30));
  const jittered = base * (0.8 + 0.4 * random());
  return Math.round(Math.min(config.maxDelayMs, jittered));
}

type Listener<T extends ServerMessageType> = (message: ServerMessageOf<T>) => void;

export class SttSocket {
  private socket: SocketLike | null = null;
  private connectionState: ConnectionState = 'connecting';
  private attempt = 0;
  private everOpened = false;
  private stopped = true;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastHeard = 0;
  private droppedFrames = 0;
  private readonly listeners = new Map<string, Set<(m: ServerMessage) => void>>();
  private readonly anyListeners = new Set<(m: ServerMessage) => void>();
  private readonly stateListeners = new Set<(s: ConnectionState, info: ConnectionInfo) => void>();
  private readonly openListeners = new Set<(reconnected: boolean) => void>();
  private readonly options: Required<SttSocketOptions>;

  constructor(options: SttSocketOptions) {
    this.options = {
      pingIntervalMs: 15_000,
      deadAfterMs: 45_000,
      connectTimeoutMs: 8_000,
      maxBufferedBytes: 1 << 20,
      random: Math.random,
      ...options,
    };
  }

  get state(): ConnectionState {
    return this.connectionState;
  }

  get connected(): boolean {
    return this.connectionState === 'connected';
  }

  /** Audio frames dropped because the socket was closed or backed up. */
  get framesDropped(): number {
    return this.droppedFrames;
  }

  /** Opens the connection (and keeps it open until close()). */
  connect(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.open();
  }

  /** Closes for good: no reconnect. */
  close(): void {
    this.stopped = true;
    this.clearTimers();
    const s = this.socket;
    this.socket = null;
    if (s) {
      detach(s);
      s.close(1000, 'client closed');
    }
    this.setState('closed', { attempt: 0 });
  }

  /** Sends a JSON message; false when not connected (the message is not queued). */
  send(message: ClientMessage): boolean {
    const s = this.socket;
    if (!s || s.readyState !== OPEN || this.connectionState !== 'connected') return false;
    s.send(JSON.stringify(message));
    return true;
  }

  /** Sends one binary PCM16 frame; dropped (false) when not connected or when the link is backed up. */
  sendAudio(pcm: ArrayBuffer): boolean {
    const s = this.socket;
    if (!s || s.readyState !== OPEN || this.connectionState !== 'connected' || s.bufferedAmount > this.options.maxBufferedBytes) {
      this.droppedFrames++;
      return false;
    }
    s.send(pcm);
    return true;
  }

  on<T extends ServerMessageType>(type: T, listener: Listener<T>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    const l = listener as (m: ServerMessage) => void;
    set.add(l);
    return () => set.delete(l);
  }

  onMessage(listener: (message: ServerMessage) => void): () => void {
    this.anyListeners.add(listener);
    return () => this.anyListeners.delete(listener);
  }

  onConnectionChange(listener: (state: ConnectionState, info: ConnectionInfo) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Called on every successful open; `reconnected` is true after the first. */
  onOpen(listener: (reconnected: boolean) => void): () => void {
    this.openListeners.add(listener);
    return () => this.openListeners.delete(listener);
  }

  private open(): void {
    this.clearTimers();
    this.setState(this.everOpened || this.attempt > 0 ? 'reconnecting' : 'connecting', { attempt: this.attempt });
    let s: SocketLike;
    try {
      s = this.options.createSocket(this.options.url);
    } catch {
      this.scheduleRetry();
      return;
    }
    this.socket = s;
    s.binaryType = 'arraybuffer';
    s.onopen = () => {
      if (this.socket !== s) return;
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.lastHeard = Date.now();
      this.startHeartbeat();
      this.setState('connected', { attempt: 0 });
      for (const l of this.openListeners) l(reconnected);
    };
    s.onmessage = (ev: { data: unknown }) => {
      if (this.socket !== s) return;
      this.lastHeard = Date.now();
      if (typeof ev.data !== 'string') return;
      const message = parseServerMessage(ev.data);
      if (message) this.dispatch(message);
    };
    s.onerror = () => {
      // A close event always follows; reconnecting happens there.
    };
    s.onclose = (ev: { code?: number } | undefined) => {
      if (this.socket !== s) return;
      if (ev?.code === CLOSE_START_TIMEOUT) this.rest();
      else this.lost();
    };
    this.connectTimer = setTimeout(() => {
      if (this.socket === s && s.readyState !== OPEN) this.lost();
    }, this.options.connectTimeoutMs);
  }

  /** Opens a new connection when the server closed the last one for being unused (state idle); else a no-op. */
  wake(): void {
    if (this.connectionState === 'idle' && !this.stopped) this.open();
  }

  /** The server closed the unused connection: no retry until wake(). */
  private rest(): void {
    const s = this.socket;
    this.socket = null;
    if (s) detach(s);
    this.clearTimers();
    this.setState('idle', { attempt: 0 });
  }

  /** The current socket is gone (closed, timed out, or silent too long): drop it and retry. */
  private lost(): void {
    const s = this.socket;
    this.socket = null;
    if (s) {
      detach(s);
      try {
        s.close();
      } catch {
        // already closed
      }
    }
    if (this.stopped) return;
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    this.clearTimers();
    const delay = backoffDelay(this.attempt, this.options.reconnect, this.options.random);
    this.attempt++;
    this.setState('reconnecting', { attempt: this.attempt, retryInMs: delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.open();
    }, delay);
  }

  private startHeartbeat(): void {
    const { pingIntervalMs, deadAfterMs } = this.options;
    if (pingIntervalMs <= 0) return;
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > deadAfterMs) {
        this.lost();
        return;
      }
      this.send({ type: 'ping' });
    }, pingIntervalMs);
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.retryTimer = this.connectTimer = this.pingTimer = null;
  }

  private setState(state: ConnectionState, info: ConnectionInfo): void {
    const changed = state !== this.connectionState;
    this.connectionState = state;
    // 'reconnecting' is re-announced with each new delay so the UI can count down.
    if (changed || state === 'reconnecting') for (const l of this.stateListeners) l(state, info);
  }

  private dispatch(message: ServerMessage): void {
    const set = this.listeners.get(message.type);
    for (const l of [...this.anyListeners, ...(set ?? [])]) {
      try {
        l(message);
      } catch (e) {
        // One broken listener must not starve the others (or kill the socket's handler).
        console.error('earshot: listener failed on', message.type, e);
      }
    }
  }
}

function detach(s: SocketLike): void {
  s.onopen = s.onclose = s.onerror = s.onmessage = null;
}
