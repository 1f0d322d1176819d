/**
 * The Earshot client for /ws/stream: one class for browsers (native WebSocket) and Node (`ws`, loaded on demand so
 * that bundles for browsers never contain it). Typed events and an async iterator, reconnect with backoff, a ping
 * heartbeat, and no lost words: the audio sent since the last final is kept and sent again after a reconnect, under
 * the same session_id, so a server that went away mid-utterance loses nothing and no final comes twice.
 *
 *   const client = await EarshotClient.connect('ws://127.0.0.1:8000/ws/stream', { token });
 *   client.on('final', (m) => console.log(m.text));
 *   await client.start();                     // stt_start; resolves on stt_listening
 *   await client.streamPcm(samples);          // Float32Array, 16 kHz, paced at real time (or sendAudio(frames))
 *   await client.stop();                      // resolves after the last final, on stt_state idle
 *   await client.close();
 *
 * The web UI, the SpeechRecognition stand-in, <earshot-dictation>, the tests, the bench and the load harness use it.
 */
import { float32ToPcm16 } from '../audio/pcm.ts';
import { ResendBuffer } from './resend-buffer.ts';
import {
  DEFAULT_SAMPLE_RATE,
  newSessionId,
  parseServerMessage,
  SUBPROTOCOL,
  TOKEN_SUBPROTOCOL_PREFIX,
  type ErrorCode,
  type ServerMessage,
  type ServerMessageOf,
} from '../protocol/seed-messages.ts';

export type { ErrorCode, ServerMessage, SttState } from '../protocol/seed-messages.ts';

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
}

export type SocketFactory = (url: string, init: SocketInit) => SocketLike;

/** connecting: first attempt; connected: open; reconnecting: lost, retrying; closed: for good. */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'closed';

export interface ConnectionInfo {
  /** Failed attempts since the last successful open. */
  attempt: number;
  /** When reconnecting: milliseconds until the next attempt. */
  retryInMs?: number;
}

export interface ReconnectOptions {
  /** First retry delay, doubled after each failed attempt (default 250 ms). */
  initialDelayMs: number;
  /** Cap on the retry delay (default 5000 ms). */
  maxDelayMs: number;
}

export interface ClientOptions {
  /** ws:// or wss:// URL of /ws/stream. */
  url: string;
  /**
   * Server token (EARSHOT_TOKEN) or a short-lived signed token (`npx earshot token`). Node sends it as
   * `Authorization: Bearer`; browsers, which cannot set headers, as the subprotocol `token.<t>` beside `earshot`.
   */
  token?: string;
  /** Node only: sent as the Origin header (browsers always send their own). */
  origin?: string;
  /** Node only: extra handshake headers. */
  headers?: Record<string, string>;
  /** Reconnect after a lost connection (default on); false: a lost connection closes the client. */
  reconnect?: false | Partial<ReconnectOptions>;
  /** Abandon a connection attempt after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** Ping every this many ms while connected (default 15 000 with reconnect, else 0 = never). */
  pingIntervalMs?: number;
  /** A connection that has heard nothing (not even a pong) for this long is dropped and reopened (default 45 000). */
  deadAfterMs?: number;
  /** Audio kept for a resend after a reconnect, in seconds (default 60; 0 = none, frames are dropped while offline). */
  resendSeconds?: number;
  /** Without resend: audio frames are dropped while more than this many bytes wait to be sent. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Jitter source in [0, 1); tests pass () => 0.5 for exact delays. */
  random?: () => number;
  /** Makes the socket (default: the browser's WebSocket, or `ws` in Node). */
  createSocket?: SocketFactory;
}

export interface StreamOptions {
  /** Rate of `samples` (default: the rate given to start(), else 16000). */
  sampleRate?: number;
  /** Frame length in ms (default 100). */
  chunkMs?: number;
  /** Pace frames at real time (default true); false sends as fast as the socket takes them. */
  realtime?: boolean;
  /** With realtime: play this many times faster than real time (default 1). */
  speed?: number;
  signal?: AbortSignal;
}

type Msg<T extends ServerMessage['type']> = ServerMessageOf<T>;

/** A final of this client's session, with where it lies on the client's own audio stream (seconds, across reconnects). */
export type SessionFinal = Msg<'stt_final'> & { streamStart?: number; streamEnd?: number };

/** A session resumed on a new connection. */
export interface Reconnect {
  /** Close code of the lost connection (1012: the instance drained; 1006: it vanished). */
  code: number;
  /** From the loss to stt_listening on the new connection, ms. */
  gapMs: number;
  /** Seconds of audio sent again. */
  resentSeconds: number;
}

/** Event name → payload. Protocol messages use short names; 'message' gets every message. */
export interface ClientEvents {
  message: ServerMessage;
  listening: Msg<'stt_listening'>;
  vadStart: Msg<'stt_vad_start'>;
  vadStop: Msg<'stt_vad_stop'>;
  recordingStart: Msg<'stt_recording_start'>;
  recordingStop: Msg<'stt_recording_stop'>;
  partial: Msg<'stt_update'>;
  stabilized: Msg<'stt_stabilized'>;
  /** Each utterance's final once: a final for audio already answered (after a resend) is not reported. */
  final: SessionFinal;
  discarded: Msg<'stt_discarded'>;
  state: Msg<'stt_state'>;
  error: Msg<'stt_error'>;
  pong: Msg<'pong'>;
  assistantDelta: Msg<'assistant_delta'>;
  assistantDone: Msg<'assistant_done'>;
  /** The connection's state changed ('reconnecting' is repeated with each new delay). */
  connection: { state: ConnectionState } & ConnectionInfo;
  /** A socket opened; `reconnected` after the first (the session, if any, has been resumed). */
  open: { reconnected: boolean };
  /** The session listens again on a new connection, its unanswered audio resent. */
  reconnect: Reconnect;
  /** The client is closed for good (close() or, without reconnect, a lost connection). */
  close: { code: number; reason: string };
}

const EVENT_OF: Record<ServerMessage['type'], keyof ClientEvents> = {
  stt_listening: 'listening',
  stt_vad_start: 'vadStart',
  stt_vad_stop: 'vadStop',
  stt_recording_start: 'recordingStart',
  stt_recording_stop: 'recordingStop',
  stt_update: 'partial',
  stt_stabilized: 'stabilized',
  stt_final: 'final',
  stt_discarded: 'discarded',
  stt_state: 'state',
  stt_error: 'error',
  pong: 'pong',
  assistant_delta: 'assistantDelta',
  assistant_done: 'assistantDone',
};

/** Errors that answer a stt_start (it did not start). */
const START_ERRORS: ReadonlySet<string> = new Set(['OVERLOADED', 'MODEL_LOAD_ERROR', 'BAD_MESSAGE', 'SHUTTING_DOWN']);
/** With reconnect, a start refused with these is tried again on a new connection (another instance, say). */
const RETRY_START_ERRORS: ReadonlySet<string> = new Set(['OVERLOADED', 'SHUTTING_DOWN']);
const OPEN = 1;
const CONNECTING = 0;
/** streamPcm waits while more than this is queued on the socket (flow control for faster-than-real-time sends). */
const STREAM_HIGH_WATER_BYTES = 256 * 1024;
/** Held out of `import()` so that bundlers leave `ws` alone: browsers never load it. */
const WS_MODULE = 'ws';

export class EarshotError extends Error {
  constructor(
    readonly code: ErrorCode | 'CLOSED' | 'TIMEOUT',
    message: string,
  ) {
    super(message);
    this.name = 'EarshotError';
  }
}

/** Delay before reconnect attempt number `attempt` (0-based): initial·2^attempt, capped, ±20 % jitter. */
export function backoffDelay(attempt: number, config: ReconnectOptions, random: () => number = Math.random): number {
  const base = Math.min(config.maxDelayMs, config.initialDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(Math.min(config.maxDelayMs, base * (0.8 + 0.4 * random())));
}

/** Float samples in [-1, 1] → PCM16 little-endian bytes. */
export function toPcm16(samples: Float32Array): Uint8Array {
  const pcm = float32ToPcm16(samples); // little-endian on every platform Node and browsers run on
  return new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

function isNode(): boolean {
  return typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === 'string';
}

async function defaultSocketFactory(): Promise<SocketFactory> {
  if (isNode()) {
    type WsCtor = new (url: string, protocols: string[], options: object) => SocketLike;
    const WS = ((await import(/* @vite-ignore */ WS_MODULE)) as { default: WsCtor }).default;
    return (url, init) =>
      new WS(url, init.protocols, { headers: init.headers, origin: init.origin, handshakeTimeout: init.timeoutMs, perMessageDeflate: false });
  }
  return (url, init) => new WebSocket(url, init.protocols) as unknown as SocketLike;
}

type Listener<E extends keyof ClientEvents> = (payload: ClientEvents[E]) => void;

export class EarshotClient {
  private readonly options: ClientOptions;
  private readonly reconnect: ReconnectOptions | null;
  private readonly pingIntervalMs: number;
  private readonly resendSeconds: number;
  private factory: SocketFactory | null = null;
  private sock: SocketLike | null = null;
  private connectionState: ConnectionState = 'connecting';
  private attempt = 0;
  private everOpened = false;
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastHeard = 0;
  private droppedFrames = 0;
  private connecting: Promise<void> | null = null;
  /** Why the last attempt failed (with `status` when the server refused the upgrade). */
  private failure: Error | null = null;
  private readonly listeners = new Map<keyof ClientEvents, Set<(payload: never) => void>>();
  /** Messages not yet taken by an iterator (only kept once messages() has been called). */
  private readonly queue: ServerMessage[] = [];
  private readonly waiters: Array<(r: IteratorResult<ServerMessage>) => void> = [];
  private iterating = false;
  private closedInfo?: { code: number; reason: string };
  private resolveClosed!: (info: { code: number; reason: string }) => void;
  private readonly closedPromise: Promise<{ code: number; reason: string }>;

  // The session (stt_start … stt_stop) and its audio not yet covered by a final.
  /** The session_id of the last start(). */
  sessionId?: string;
  private sampleRate = DEFAULT_SAMPLE_RATE;
  /** Whether stt_start declares the rate (the seed's clients never do). */
  private explicitRate = false;
  /** Between start() and the stt_state idle that answers stop(). */
  private sessionActive = false;
  private stopRequested = false;
  /** stt_start went out on the current socket. */
  private startSent = false;
  /** stt_listening answered the session's stt_start on the current socket. */
  private listening = false;
  /** The audio no final has answered yet (null without a session, or with resend off). */
  private resend: ResendBuffer | null = null;
  /** When the last connection with a session was lost, and its close code. */
  private lostAt: { at: number; code: number } | null = null;
  private resentSeconds = 0;
  /** Sessions resumed on a new connection. */
  readonly reconnects: Reconnect[] = [];
  /** Finals not reported because their audio had already been answered. */
  duplicates = 0;

  constructor(options: ClientOptions) {
    this.options = options;
    this.reconnect = options.reconnect === false ? null : { initialDelayMs: 250, maxDelayMs: 5000, ...options.reconnect };
    this.pingIntervalMs = options.pingIntervalMs ?? (this.reconnect ? 15_000 : 0);
    this.resendSeconds = options.resendSeconds ?? 60;
    this.factory = options.createSocket ?? null;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** Opens a client with reconnect off (unless asked); rejects with `status` on a refused upgrade (401, 403). */
  static async connect(url: string, options: Omit<ClientOptions, 'url'> = {}): Promise<EarshotClient> {
    const client = new EarshotClient({ reconnect: false, ...options, url });
    await client.connect();
    return client;
  }

  get state(): ConnectionState {
    return this.connectionState;
  }

  get connected(): boolean {
    return this.connectionState === 'connected';
  }

  /** Alias of `connected`. */
  get open(): boolean {
    return this.connected;
  }

  /** The current socket (tests use it for frames the client would never send). */
  get socket(): SocketLike | null {
    return this.sock;
  }

  /** Audio frames dropped (offline without resend, or a backed-up link). */
  get framesDropped(): number {
    return this.droppedFrames;
  }

  /** Seconds of audio kept for a resend (not yet answered by a final). */
  get unconfirmedSeconds(): number {
    return this.resend?.pendingSeconds ?? 0;
  }

  /**
   * Opens the connection and resolves once it is open. With reconnect it keeps trying (and reopens lost
   * connections) until close(); without, it rejects on the first failure.
   */
  connect(): Promise<void> {
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      this.factory ??= await defaultSocketFactory();
      if (this.stopped) throw new EarshotError('CLOSED', 'client closed');
      const opened = new Promise<void>((resolve, reject) => {
        const offOpen = this.on('open', () => {
          offOpen();
          offClose();
          resolve();
        });
        const offClose = this.on('close', (c) => {
          offOpen();
          offClose();
          reject(this.failure ?? new EarshotError('CLOSED', `connection closed (${c.code})`));
        });
      });
      this.openSocket();
      await opened;
    })();
    return this.connecting;
  }

  /** Closes for good (no reconnect) and resolves when closed. */
  async close(code = 1000, reason = ''): Promise<{ code: number; reason: string }> {
    const s = this.sock;
    this.stopped = true;
    this.clearTimers();
    if (s && (s.readyState === OPEN || s.readyState === CONNECTING)) {
      s.onclose = (ev: { code?: number; reason?: string }) => this.finish(ev.code ?? code, String(ev.reason ?? reason));
      s.close(code, reason);
      const timer = setTimeout(() => {
        s.terminate?.();
        this.finish(code, reason);
      }, 3000);
      try {
        return await this.closedPromise;
      } finally {
        clearTimeout(timer);
      }
    }
    this.finish(code, reason);
    return this.closedPromise;
  }

  /** Drops the connection without a close handshake, as a network failure would (reconnects if enabled). */
  terminate(): void {
    const s = this.sock;
    if (!s) return;
    if (s.terminate) s.terminate();
    else s.close();
  }

  /** Resolves with the close code and reason once the client is closed for good. */
  closed(): Promise<{ code: number; reason: string }> {
    return this.closedPromise;
  }

  on<E extends keyof ClientEvents>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  off<E extends keyof ClientEvents>(event: E, listener: Listener<E>): void {
    this.listeners.get(event)?.delete(listener as (payload: never) => void);
  }

  /** Resolves with the next payload of `event` that passes `filter`; rejects on close or after timeoutMs. */
  next<E extends keyof ClientEvents>(event: E, filter: (p: ClientEvents[E]) => boolean = () => true, timeoutMs = 60000): Promise<ClientEvents[E]> {
    return new Promise((resolve, reject) => {
      if (this.closedInfo && event !== 'close') {
        reject(new EarshotError('CLOSED', `connection closed (${this.closedInfo.code})`));
        return;
      }
      const cleanup = () => {
        offEvent();
        offClose();
        clearTimeout(timer);
      };
      const offEvent = this.on(event, (p) => {
        if (!filter(p)) return;
        cleanup();
        resolve(p);
      });
      const offClose =
        event === 'close'
          ? () => {}
          : this.on('close', (c) => {
              cleanup();
              reject(new EarshotError('CLOSED', `connection closed (${c.code}${c.reason ? ` ${c.reason}` : ''}) while waiting for ${event}`));
            });
      const timer = setTimeout(() => {
        cleanup();
        reject(new EarshotError('TIMEOUT', `no ${event} within ${timeoutMs} ms`));
      }, timeoutMs);
    });
  }

  /**
   * Starts a session (stt_start); resolves with its id on stt_listening, rejects on a stt_error that refuses it.
   * While offline, stt_start goes out as soon as the connection is back.
   */
  async start(sessionId: string = newSessionId(), options: { sampleRate?: number; timeoutMs?: number } = {}): Promise<string> {
    const timeoutMs = options.timeoutMs ?? 60000;
    const listening = this.next('listening', (m) => m.session_id === sessionId, timeoutMs);
    const refusal = (m: Msg<'stt_error'>) =>
      START_ERRORS.has(m.code) && (m.session_id === sessionId || m.session_id === null) && !(this.reconnect && RETRY_START_ERRORS.has(m.code));
    const refused = this.next('error', refusal, timeoutMs);
    this.sessionId = sessionId;
    this.sampleRate = options.sampleRate ?? DEFAULT_SAMPLE_RATE;
    this.explicitRate = options.sampleRate !== undefined;
    this.sessionActive = true;
    this.stopRequested = false;
    this.resend = this.resendSeconds > 0 ? new ResendBuffer(this.sampleRate, this.resendSeconds) : null;
    this.startSent = this.listening = false;
    if (this.connected) this.sendStart();
    try {
      return await Promise.race([
        listening.then(() => sessionId),
        refused.then((e) => {
          throw new EarshotError(e.code, e.error);
        }),
      ]);
    } catch (e) {
      if (this.sessionId === sessionId) this.endSession();
      throw e;
    } finally {
      listening.catch(() => {});
      refused.catch(() => {});
    }
  }

  /**
   * Ends the session (stt_stop; sent after the resend when offline); resolves on the stt_state idle that follows,
   * after the final of the utterance in progress.
   */
  async stop(timeoutMs = 60000): Promise<void> {
    const idle = this.next('state', (m) => m.state === 'idle', timeoutMs);
    this.stopRequested = true;
    if (this.connected && (this.startSent || !this.sessionActive)) this.sendJson({ type: 'stt_stop', session_id: this.sessionId });
    try {
      await idle;
    } finally {
      if (this.stopRequested) this.endSession();
    }
  }

  /**
   * One binary frame of PCM16 little-endian mono audio at the session's rate. While a session runs, the client keeps
   * the frame (by reference: do not reuse its buffer) until a final covers it. Returns false when it was dropped.
   */
  sendAudio(pcm: ArrayBuffer | ArrayBufferView): boolean {
    const bytes = pcm instanceof ArrayBuffer ? new Uint8Array(pcm) : new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
    const keep = this.resend !== null;
    this.resend?.push(bytes);
    const s = this.sock;
    if (!s || s.readyState !== OPEN || !this.connected || (this.sessionActive && !this.startSent)) {
      if (!keep) this.droppedFrames++;
      return keep;
    }
    if (!keep && s.bufferedAmount > (this.options.maxBufferedBytes ?? 1 << 20)) {
      this.droppedFrames++;
      return false;
    }
    s.send(bytes);
    return true;
  }

  /** Streams float samples as PCM16 frames of chunkMs, paced at real time (or `speed` times faster) unless realtime is false. */
  async streamPcm(samples: Float32Array, options: StreamOptions = {}): Promise<void> {
    const { sampleRate = this.sampleRate, chunkMs = 100, realtime = true, speed = 1, signal } = options;
    const step = Math.max(1, Math.round((sampleRate * chunkMs) / 1000));
    const t0 = performance.now();
    for (let i = 0, n = 0; i < samples.length; i += step, n++) {
      if (signal?.aborted || this.connectionState === 'closed') return;
      this.sendAudio(toPcm16(samples.subarray(i, i + step)));
      if (realtime) {
        const wait = t0 + ((n + 1) * chunkMs) / speed - performance.now();
        if (wait > 0) await sleep(wait);
      } else {
        while (this.sock && this.connected && this.sock.bufferedAmount > STREAM_HIGH_WATER_BYTES) await sleep(5);
      }
    }
  }

  /** {"type":"ping"} → resolves with the round-trip time in ms on pong. */
  async ping(timeoutMs = 10000): Promise<number> {
    const t0 = performance.now();
    const pong = this.next('pong', () => true, timeoutMs);
    this.sendJson({ type: 'ping' });
    await pong;
    return performance.now() - t0;
  }

  /** Sends any JSON value (tests use it for malformed messages); false when not connected (nothing is queued). */
  sendJson(value: unknown): boolean {
    return this.sendText(JSON.stringify(value));
  }

  /** Sends a raw text frame; false when not connected. */
  sendText(text: string): boolean {
    const s = this.sock;
    if (!s || s.readyState !== OPEN || !this.connected) return false;
    s.send(text);
    return true;
  }

  /**
   * Every server message from now on, in order, until the client closes. Messages are buffered from the first
   * call on, so iterate from one place only.
   */
  messages(): AsyncIterableIterator<ServerMessage> {
    this.iterating = true;
    const self = this;
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next(): Promise<IteratorResult<ServerMessage>> {
        const queued = self.queue.shift();
        if (queued) return Promise.resolve({ value: queued, done: false });
        if (self.closedInfo) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => self.waiters.push(resolve));
      },
      return(): Promise<IteratorResult<ServerMessage>> {
        self.iterating = false;
        self.queue.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ServerMessage> {
    return this.messages();
  }

  // ---- connection ----------------------------------------------------------------------------------------------

  private protocols(): string[] {
    const token = this.options.token;
    return token && !isNode() ? [SUBPROTOCOL, TOKEN_SUBPROTOCOL_PREFIX + token] : [];
  }

  private openSocket(): void {
    this.clearTimers();
    this.setState(this.everOpened || this.attempt > 0 ? 'reconnecting' : 'connecting', { attempt: this.attempt });
    const headers: Record<string, string> = { ...this.options.headers };
    if (this.options.token && isNode()) headers.Authorization = `Bearer ${this.options.token}`;
    const timeoutMs = this.options.timeoutMs ?? 10000;
    let s: SocketLike;
    try {
      s = this.factory!(this.options.url, { protocols: this.protocols(), headers, origin: this.options.origin, timeoutMs });
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      this.lost();
      return;
    }
    this.sock = s;
    s.binaryType = 'arraybuffer';
    s.onopen = () => {
      if (this.sock !== s) return;
      if (this.connectTimer) clearTimeout(this.connectTimer);
      this.connectTimer = null;
      const reconnected = this.everOpened;
      this.everOpened = true;
      this.attempt = 0;
      this.failure = null;
      this.lastHeard = Date.now();
      this.startHeartbeat();
      this.setState('connected', { attempt: 0 });
      this.startSent = this.listening = false;
      if (this.sessionActive) this.resume();
      this.emit('open', { reconnected });
    };
    s.onmessage = (ev: { data: unknown }) => {
      if (this.sock !== s) return;
      this.lastHeard = Date.now();
      if (typeof ev.data !== 'string') return;
      const message = parseServerMessage(ev.data);
      if (message) this.dispatch(message);
    };
    s.onerror = (ev: { message?: string; error?: { message?: string } }) => {
      // A close event follows; keep what the error said for a connect() that fails.
      const text = ev?.message ?? ev?.error?.message ?? 'WebSocket error';
      const status = /Unexpected server response: (\d+)/.exec(text)?.[1];
      this.failure = status
        ? Object.assign(new Error(`WebSocket upgrade refused: HTTP ${status}`), { status: Number(status) })
        : new Error(`WebSocket connection failed: ${text}`);
    };
    s.onclose = (ev: { code?: number; reason?: string }) => {
      if (this.sock !== s) return;
      this.lost(ev.code ?? 1006, String(ev.reason ?? ''));
    };
    this.connectTimer = setTimeout(() => {
      if (this.sock === s && s.readyState !== OPEN) {
        this.failure = new EarshotError('TIMEOUT', `no connection within ${timeoutMs} ms`);
        this.lost();
      }
    }, timeoutMs);
  }

  /** The current socket is gone (closed, timed out, or silent too long): retry, or close for good. */
  private lost(code = 1006, reason = ''): void {
    const s = this.sock;
    this.sock = null;
    if (this.sessionActive && this.connectionState === 'connected') this.lostAt = { at: performance.now(), code };
    this.startSent = this.listening = false;
    if (s) {
      detach(s);
      try {
        if (s.terminate) s.terminate();
        else s.close();
      } catch {
        // already closed
      }
    }
    if (this.stopped) return;
    if (!this.reconnect) {
      this.stopped = true;
      this.clearTimers();
      this.finish(code, reason);
      return;
    }
    this.clearTimers();
    const delay = backoffDelay(this.attempt, this.reconnect, this.options.random);
    this.attempt++;
    this.setState('reconnecting', { attempt: this.attempt, retryInMs: delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (!this.stopped) this.openSocket();
    }, delay);
  }

  private finish(code: number, reason: string): void {
    if (this.closedInfo) return;
    this.sock = null;
    this.closedInfo = { code, reason };
    this.setState('closed', { attempt: 0 });
    this.emit('close', this.closedInfo);
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
    this.resolveClosed(this.closedInfo);
  }

  private startHeartbeat(): void {
    const deadAfterMs = this.options.deadAfterMs ?? 45_000;
    if (this.pingIntervalMs <= 0) return;
    this.pingTimer = setInterval(() => {
      if (Date.now() - this.lastHeard > deadAfterMs) this.lost();
      else this.sendJson({ type: 'ping' });
    }, this.pingIntervalMs);
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
    if (changed || state === 'reconnecting') this.emit('connection', { state, ...info });
  }

  // ---- session and resend --------------------------------------------------------------------------------------

  private sendStart(): void {
    const msg: Record<string, unknown> = { type: 'stt_start', session_id: this.sessionId };
    if (this.explicitRate) msg.sample_rate = this.sampleRate;
    this.startSent = this.sendJson(msg);
  }

  /** After a reconnect: the same session again, the audio no final has answered yet, and a pending stop. */
  private resume(): void {
    this.sendStart();
    if (!this.startSent) return;
    const frames = this.resend?.replay() ?? [];
    for (const frame of frames) this.sock!.send(frame);
    this.resentSeconds = frames.reduce((n, f) => n + f.byteLength, 0) / 2 / this.sampleRate;
    if (this.stopRequested) this.sendJson({ type: 'stt_stop', session_id: this.sessionId });
  }

  private endSession(): void {
    this.sessionActive = false;
    this.stopRequested = false;
    this.resend = null;
    this.lostAt = null;
  }

  /** Session bookkeeping for the current session's messages (finals: see dispatch). */
  private track(msg: ServerMessage): void {
    if (!this.sessionActive || msg.type === 'pong' || msg.session_id !== this.sessionId) return;
    switch (msg.type) {
      case 'stt_listening':
        this.listening = true;
        if (this.lostAt) {
          const r = { code: this.lostAt.code, gapMs: performance.now() - this.lostAt.at, resentSeconds: this.resentSeconds };
          this.lostAt = null;
          this.reconnects.push(r);
          this.emit('reconnect', r);
        }
        return;
      case 'stt_discarded':
        if (typeof msg.end === 'number') this.resend?.acknowledge(msg.start, msg.end);
        return;
      case 'stt_error':
        // A draining or full instance refused the session: try another connection (through the balancer).
        if (this.reconnect && !this.listening && RETRY_START_ERRORS.has(msg.code)) queueMicrotask(() => this.sock && this.lost(1013));
        return;
    }
  }

  private dispatch(message: ServerMessage): void {
    let msg = message;
    if (msg.type === 'stt_final' && this.resend && msg.session_id === this.sessionId && typeof msg.end === 'number') {
      const span = this.resend.acknowledge(msg.start, msg.end);
      if (!span) {
        this.duplicates++;
        return;
      }
      const final: SessionFinal = { ...msg, streamStart: span.start, streamEnd: span.end };
      msg = final;
    } else {
      this.track(msg);
    }
    if (this.iterating) {
      const waiter = this.waiters.shift();
      if (waiter) waiter({ value: msg, done: false });
      else this.queue.push(msg);
    }
    this.emit('message', msg);
    this.emit(EVENT_OF[msg.type], msg as never);
  }

  private emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      try {
        (l as Listener<E>)(payload);
      } catch (e) {
        // One broken listener must not starve the others, nor break the client.
        console.error('earshot: listener failed on', event, e);
      }
    }
  }
}

function detach(s: SocketLike): void {
  s.onopen = s.onclose = s.onerror = s.onmessage = null;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
