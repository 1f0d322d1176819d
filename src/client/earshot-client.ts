/**
 * A typed Node client for Earshot's /ws/stream protocol (uses `ws`). Used by tests, the benchmark and the load harness.
 *
 *   const client = await EarshotClient.connect('ws://127.0.0.1:8000/ws/stream', { token });
 *   client.on('final', (m) => console.log(m.text));
 *   await client.start();
 *   await client.streamPcm(samples);          // Float32Array, 16 kHz, paced at real time
 *   await client.stop();                      // resolves after the last final, on stt_state idle
 *   await client.close();
 */
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { float32ToPcm16 } from '../audio/pcm.ts';
import type { ErrorCode, ServerMessage, SttState } from '../server/protocol.ts';

export type { ErrorCode, ServerMessage, SttState } from '../server/protocol.ts';

type Msg<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

/** Event name → payload. Protocol messages use short names; 'message' gets every message. */
export interface ClientEvents {
  message: ServerMessage;
  listening: Msg<'stt_listening'>;
  vadStart: Msg<'stt_vad_start'>;
  vadStop: Msg<'stt_vad_stop'>;
  recordingStart: Msg<'stt_recording_start'>;
  recordingStop: Msg<'stt_recording_stop'>;
  update: Msg<'stt_update'>;
  stabilized: Msg<'stt_stabilized'>;
  final: Msg<'stt_final'>;
  discarded: Msg<'stt_discarded'>;
  state: Msg<'stt_state'>;
  error: Msg<'stt_error'>;
  pong: Msg<'pong'>;
  assistantDelta: Msg<'assistant_delta'>;
  assistantDone: Msg<'assistant_done'>;
  close: { code: number; reason: string };
}

const EVENT_OF: Record<ServerMessage['type'], keyof ClientEvents> = {
  stt_listening: 'listening',
  stt_vad_start: 'vadStart',
  stt_vad_stop: 'vadStop',
  stt_recording_start: 'recordingStart',
  stt_recording_stop: 'recordingStop',
  stt_update: 'update',
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
const START_ERRORS: ReadonlySet<string> = new Set(['OVERLOADED', 'CLIENT_LIMIT', 'MODEL_LOAD_ERROR', 'BAD_MESSAGE', 'SHUTTING_DOWN']);

export class EarshotError extends Error {
  constructor(
    readonly code: ErrorCode | 'CLOSED' | 'TIMEOUT',
    message: string,
  ) {
    super(message);
    this.name = 'EarshotError';
  }
}

export interface ConnectOptions {
  token?: string;
  /** Sent as the Origin header (browsers always send one; Node clients normally none). */
  origin?: string;
  headers?: Record<string, string>;
  /** Handshake timeout, ms (default 10000). */
  timeoutMs?: number;
  /** Local address to connect from (e.g. 127.0.0.2, to be another client of a server on loopback). */
  localAddress?: string;
}

export interface StreamOptions {
  /** Rate of `samples` (default 16000); it must match the sample_rate given to start(). */
  sampleRate?: number;
  /** Frame length in ms (default 100). */
  chunkMs?: number;
  /** Pace frames at real time (default true); false sends as fast as the socket takes them. */
  realtime?: boolean;
  /** With realtime: play this many times faster than real time (default 1). */
  speed?: number;
  signal?: AbortSignal;
}

type Listener<E extends keyof ClientEvents> = (payload: ClientEvents[E]) => void;

export class EarshotClient {
  private readonly listeners = new Map<keyof ClientEvents, Set<(payload: never) => void>>();
  /** Messages not yet taken by an iterator (only kept once messages() has been called). */
  private readonly queue: ServerMessage[] = [];
  private readonly waiters: Array<(r: IteratorResult<ServerMessage>) => void> = [];
  private iterating = false;
  private closedInfo?: { code: number; reason: string };
  private readonly closedPromise: Promise<{ code: number; reason: string }>;
  /** The session_id of the last start(). */
  sessionId?: string;

  private constructor(readonly ws: WebSocket) {
    this.closedPromise = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closedInfo = { code, reason: reason.toString() };
        this.emit('close', this.closedInfo);
        for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
        resolve(this.closedInfo);
      });
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: ServerMessage;
      try {
        msg = JSON.parse(data.toString()) as ServerMessage;
      } catch {
        return;
      }
      this.dispatch(msg);
    });
    ws.on('error', () => {}); // surfaced through 'close'
  }

  /** Opens the WebSocket; rejects with the HTTP status on a refused upgrade (401 wrong token, 403 origin). */
  static connect(url: string, options: ConnectOptions = {}): Promise<EarshotClient> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.Authorization = `Bearer ${options.token}`;
    const ws = new WebSocket(url, {
      headers,
      origin: options.origin,
      handshakeTimeout: options.timeoutMs ?? 10000,
      perMessageDeflate: false,
      localAddress: options.localAddress,
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new EarshotClient(ws)));
      ws.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`), { status: res.statusCode }));
        res.resume();
        ws.terminate();
      });
      ws.once('error', (e) => reject(e));
    });
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Resolves with the close code and reason once the socket is closed. */
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

  /** Sends stt_start; resolves with the session id on stt_listening, rejects on a stt_error that refuses it. */
  async start(sessionId: string = randomUUID(), options: { sampleRate?: number; timeoutMs?: number } = {}): Promise<string> {
    const listening = this.next('listening', (m) => m.session_id === sessionId, options.timeoutMs ?? 60000);
    const refused = this.next('error', (m) => START_ERRORS.has(m.code), options.timeoutMs ?? 60000);
    const msg: Record<string, unknown> = { type: 'stt_start', session_id: sessionId };
    if (options.sampleRate !== undefined) msg.sample_rate = options.sampleRate;
    this.sessionId = sessionId;
    this.sendJson(msg);
    try {
      return await Promise.race([
        listening.then(() => sessionId),
        refused.then((e) => {
          throw new EarshotError(e.code, e.error);
        }),
      ]);
    } finally {
      listening.catch(() => {});
      refused.catch(() => {});
    }
  }

  /** Sends stt_stop; resolves on the stt_state idle that follows (after the final of the utterance in progress). */
  async stop(timeoutMs = 60000): Promise<void> {
    const idle = this.next('state', (m) => m.state === 'idle', timeoutMs);
    this.sendJson({ type: 'stt_stop', session_id: this.sessionId });
    await idle;
  }

  /** One binary frame of PCM16 little-endian mono audio. */
  sendAudio(pcm16: Uint8Array | Int16Array): void {
    const bytes = pcm16 instanceof Int16Array ? new Uint8Array(pcm16.buffer, pcm16.byteOffset, pcm16.byteLength) : pcm16;
    this.ws.send(bytes, { binary: true });
  }

  /** Streams float samples as PCM16 frames of chunkMs, paced at real time (or `speed` times faster) unless realtime is false. */
  async streamPcm(samples: Float32Array, options: StreamOptions = {}): Promise<void> {
    const { sampleRate = 16000, chunkMs = 100, realtime = true, speed = 1, signal } = options;
    const step = Math.max(1, Math.round((sampleRate * chunkMs) / 1000));
    const t0 = performance.now();
    for (let i = 0, n = 0; i < samples.length; i += step, n++) {
      if (signal?.aborted || !this.open) return;
      const frame = toPcm16(samples.subarray(i, i + step));
      await new Promise<void>((resolve, reject) => this.ws.send(frame, { binary: true }, (e) => (e ? reject(e) : resolve())));
      if (realtime) {
        const due = t0 + ((n + 1) * chunkMs) / speed;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
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

  /** Sends any JSON value (tests use it for malformed messages). */
  sendJson(value: unknown): void {
    this.ws.send(JSON.stringify(value));
  }

  /** Sends a raw text frame. */
  sendText(text: string): void {
    this.ws.send(text);
  }

  /** Closes the connection and resolves when it is closed. */
  async close(code = 1000, reason = ''): Promise<{ code: number; reason: string }> {
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
    const timer = setTimeout(() => this.ws.terminate(), 3000);
    try {
      return await this.closedPromise;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Every server message from now on, in order, until the connection closes. Messages are buffered from the first
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

  private dispatch(msg: ServerMessage): void {
    if (this.iterating) {
      const waiter = this.waiters.shift();
      if (waiter) waiter({ value: msg, done: false });
      else this.queue.push(msg);
    }
    this.emit('message', msg);
    const event = EVENT_OF[msg.type];
    if (event) this.emit(event, msg as never);
  }

  private emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void {
    for (const l of [...(this.listeners.get(event) ?? [])]) {
      try {
        (l as Listener<E>)(payload);
      } catch {
        // a listener's bug must not break the client
      }
    }
  }
}

/** Float samples in [-1, 1] → PCM16 little-endian bytes. */
export function toPcm16(samples: Float32Array): Uint8Array {
  const pcm = float32ToPcm16(samples); // little-endian on every platform Node runs on
  return new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}
