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
import { newSessionId, parseServerMessage, CLOSE_START_TIMEOUT, type ServerMessage } from '../protocol/seed-messages.ts';
import { EarshotError, EVENT_OF, frameBytes, refusesStart, toPcm16, type Reconnect } from './client-codec.ts';
import { ClientEventEmitter } from './client-events.ts';
import type { ClientOptions, StreamOptions } from './client-options.ts';
import { backoffDelay, SessionResume, type ReconnectOptions } from './session-resume.ts';
import { defaultSocketFactory, OPEN, SocketTransport, type ConnectionInfo, type TransportOptions, type ConnectionState, type SocketFactory, type SocketLike } from './socket-transport.ts';

export type { ErrorCode, ServerMessage, SttState } from '../protocol/seed-messages.ts';
export { EarshotError, toPcm16, type ClientEvents, type Reconnect, type SessionFinal } from './client-codec.ts';
export { backoffDelay, type ReconnectOptions } from './session-resume.ts';
export type { ConnectionInfo, ConnectionState, SocketFactory, SocketInit, SocketLike } from './socket-transport.ts';
export type { ClientOptions, StreamOptions } from './client-options.ts';

/** streamPcm waits while more than this is queued on the socket (flow control for faster-than-real-time sends). */
const STREAM_HIGH_WATER_BYTES = 256 * 1024;

export class EarshotClient extends ClientEventEmitter {
  private readonly options: ClientOptions;
  private readonly reconnect: ReconnectOptions | null;
  private readonly transport: TransportOptions;
  private factory: SocketFactory | null = null;
  private link: SocketTransport | null = null;
  private connectionState: ConnectionState = 'connecting';
  private attempt = 0;
  private everOpened = false;
  private stopped = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private droppedFrames = 0;
  private connecting: Promise<void> | null = null;
  /** Why the last attempt failed (with `status` when the server refused the upgrade). */
  private failure: Error | null = null;
  private resolveClosed!: (info: { code: number; reason: string }) => void;
  private readonly closedPromise: Promise<{ code: number; reason: string }>;
  /** The session and its audio not yet covered by a final. */
  private readonly session: SessionResume;

  constructor(options: ClientOptions) {
    super();
    this.options = options;
    this.reconnect = options.reconnect === false ? null : { initialDelayMs: 250, maxDelayMs: 5000, ...options.reconnect };
    const { url, token, origin, headers, localAddress, timeoutMs = 10000, deadAfterMs = 45_000 } = options;
    this.transport = { url, token, origin, headers, localAddress, timeoutMs, deadAfterMs, pingIntervalMs: options.pingIntervalMs ?? (this.reconnect ? 15_000 : 0) };
    this.session = new SessionResume(options.resendSeconds ?? 60, options.keyterms);
    this.factory = options.createSocket ?? null;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** Opens a client with reconnect off (unless asked); rejects with `status` on a refused upgrade (401, 403). */
  static async connect(url: string, options: Omit<ClientOptions, 'url'> = {}): Promise<EarshotClient> {
    const client = new EarshotClient({ reconnect: false, ...options, url });
    await client.connect();
    return client;
  }

  /** The session_id of the last start(). */
  get sessionId(): string | undefined {
    return this.session.id;
  }

  set sessionId(id: string | undefined) {
    this.session.id = id;
  }

  /** Sessions resumed on a new connection. */
  get reconnects(): readonly Reconnect[] {
    return this.session.reconnects;
  }

  /** Finals not reported because their audio had already been answered. */
  get duplicates(): number {
    return this.session.duplicates;
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
    return this.link?.socket ?? null;
  }

  /** Audio frames dropped (offline without resend, or a backed-up link). */
  get framesDropped(): number {
    return this.droppedFrames;
  }

  /** Seconds of audio kept for a resend (not yet answered by a final). */
  get unconfirmedSeconds(): number {
    return this.session.pendingSeconds;
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
    this.stopped = true;
    this.clearTimers();
    if (!this.link?.close(code, reason, (c, r) => this.finish(c, r))) this.finish(code, reason);
    return this.closedPromise;
  }

  /** Drops the connection without a close handshake, as a network failure would (reconnects if enabled). */
  terminate(): void {
    const s = this.socket;
    if (!s) return;
    if (s.terminate) s.terminate();
    else s.close();
  }

  /** Resolves with the close code and reason once the client is closed for good. */
  closed(): Promise<{ code: number; reason: string }> {
    return this.closedPromise;
  }

  /**
   * Starts a session (stt_start); resolves with its id on stt_listening, rejects on a stt_error that refuses it.
   * While offline, stt_start goes out as soon as the connection is back. `agc: false` turns the server's adaptive
   * input gain off for this session (docs/audio-gain.md).
   */
  async start(sessionId: string = newSessionId(), options: { sampleRate?: number; timeoutMs?: number; agc?: boolean } = {}): Promise<string> {
    const timeoutMs = options.timeoutMs ?? 60000;
    const listening = this.next('listening', (m) => m.session_id === sessionId, timeoutMs);
    const refused = this.next('error', (m) => refusesStart(m, sessionId, this.reconnect !== null), timeoutMs);
    this.session.begin(sessionId, options.sampleRate, options.agc);
    if (this.connected) this.sendStart();
    else this.wake(); // sent on open, by resume()
    try {
      return await Promise.race([
        listening.then(() => sessionId),
        refused.then((e) => {
          throw new EarshotError(e.code, e.error);
        }),
      ]);
    } catch (e) {
      // Refused by the server: there is no session. A timeout (server away) leaves it to resume on a reconnect.
      const refusedByServer = e instanceof EarshotError && e.code !== 'TIMEOUT' && e.code !== 'CLOSED';
      if (this.session.id === sessionId && (refusedByServer || !this.reconnect)) this.session.end();
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
    const session = this.session;
    session.stopRequested = true;
    if (this.connected && (session.startSent || !session.active)) this.sendJson({ type: 'stt_stop', session_id: session.id });
    try {
      await idle;
    } finally {
      if (session.stopRequested) session.end();
    }
  }

  /**
   * One binary frame of PCM16 little-endian mono audio at the session's rate. While a session runs, the client keeps
   * the frame (by reference: do not reuse its buffer) until a final covers it. Returns false when it was dropped.
   */
  sendAudio(pcm: ArrayBuffer | ArrayBufferView): boolean {
    const bytes = frameBytes(pcm);
    const keep = this.session.keepsAudio;
    this.session.keep(bytes);
    const s = this.socket;
    if (!s || s.readyState !== OPEN || !this.connected || (this.session.active && !this.session.startSent)) {
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
    const { sampleRate = this.session.sampleRate, chunkMs = 100, realtime = true, speed = 1, signal } = options;
    const step = Math.max(1, Math.round((sampleRate * chunkMs) / 1000));
    const t0 = performance.now();
    for (let i = 0, n = 0; i < samples.length; i += step, n++) {
      if (signal?.aborted || this.connectionState === 'closed') return;
      this.sendAudio(toPcm16(samples.subarray(i, i + step)));
      if (realtime) {
        const wait = t0 + ((n + 1) * chunkMs) / speed - performance.now();
        if (wait > 0) await sleep(wait);
      } else {
        while (this.socket && this.connected && this.socket.bufferedAmount > STREAM_HIGH_WATER_BYTES) await sleep(5);
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
    return this.connected && (this.link?.sendText(text) ?? false);
  }

  private openSocket(): void {
    this.clearTimers();
    this.setState(this.everOpened || this.attempt > 0 ? 'reconnecting' : 'connecting', { attempt: this.attempt });
    let link: SocketTransport;
    try {
      link = new SocketTransport(this.factory!, this.transport, {
        open: () => this.opened(),
        text: (data) => {
          const message = parseServerMessage(data);
          if (message) this.dispatch(message);
        },
        error: (e) => (this.failure = e),
        closed: (code, reason) => {
          if (code === CLOSE_START_TIMEOUT && this.reconnect && !this.session.active) this.rest();
          else this.lost(code ?? 1006, String(reason ?? ''));
        },
        dead: (e) => {
          if (e) this.failure = e;
          this.lost();
        },
      });
    } catch (e) {
      this.failure = e instanceof Error ? e : new Error(String(e));
      this.lost();
      return;
    }
    this.link = link;
  }

  private opened(): void {
    const reconnected = this.everOpened;
    this.everOpened = true;
    this.attempt = 0;
    this.failure = null;
    this.setState('connected', { attempt: 0 });
    this.session.startSent = this.session.listening = false;
    if (this.session.active) this.resume();
    this.emit('open', { reconnected });
  }

  /** The server closed the connection as unused: nothing to retry until the next start() or wake(). */
  private rest(): void {
    this.link?.dispose(false);
    this.link = null;
    this.clearTimers();
    this.setState('idle', { attempt: 0 });
  }

  /** Opens a new connection when the server closed the last one as unused (state idle); else a no-op. */
  wake(): void {
    if (this.connectionState === 'idle' && !this.stopped) this.openSocket();
  }

  /** The current socket is gone (closed, timed out, or silent too long): retry, or close for good. */
  private lost(code = 1006, reason = ''): void {
    const link = this.link;
    this.link = null;
    this.session.lost(code, this.connectionState === 'connected');
    link?.dispose(true);
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
    this.link = null;
    this.closedInfo = { code, reason };
    this.setState('closed', { attempt: 0 });
    this.emit('close', this.closedInfo);
    this.endMessages();
    this.resolveClosed(this.closedInfo);
  }

  private clearTimers(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.link?.stopTimers();
  }

  private setState(state: ConnectionState, info: ConnectionInfo): void {
    const changed = state !== this.connectionState;
    this.connectionState = state;
    if (changed || state === 'reconnecting') this.emit('connection', { state, ...info });
  }

  private sendStart(): void {
    this.session.startSent = this.sendJson(this.session.startMessage());
  }

  /** After a reconnect: the same session again, the audio no final has answered yet, and a pending stop. */
  private resume(): void {
    this.sendStart();
    if (!this.session.startSent) return;
    for (const frame of this.session.replay()) this.socket!.send(frame);
    if (this.session.stopRequested) this.sendJson({ type: 'stt_stop', session_id: this.session.id });
  }

  private dispatch(message: ServerMessage): void {
    let msg = message;
    if (msg.type === 'stt_final') {
      const final = this.session.final(msg);
      if (!final) return;
      msg = final;
    } else {
      const seen = this.session.observe(msg, this.reconnect !== null);
      // A draining or full instance refused the session: try another connection (through the balancer).
      if (seen === 'retry') queueMicrotask(() => this.link && this.lost(1013));
      else if (seen) this.emit('reconnect', seen);
    }
    this.enqueue(msg);
    this.emit('message', msg);
    this.emit(EVENT_OF[msg.type], msg as never);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
