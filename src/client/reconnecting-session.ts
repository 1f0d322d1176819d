/**
 * One dictation session that outlives its connections: when the connection goes (the instance drains and closes with
 * 1012, is killed, or the network drops), it reconnects — through a balancer, to another instance — sends stt_start
 * with the same session_id and then the audio not yet answered by a final (ResendBuffer), and goes on. Finals are
 * reported once each, with their span on the client's own stream.
 *
 *   const s = await ReconnectingSession.open('ws://balancer/ws/stream');
 *   s.on('final', (f) => console.log(f.streamStart, f.text));
 *   await s.streamPcm(samples);
 *   await s.stop();       // the last final, across reconnects
 *   await s.close();
 */
import { randomUUID } from 'node:crypto';
import { EarshotClient, EarshotError, toPcm16, type ConnectOptions, type ServerMessage } from './earshot-client.ts';
import { ResendBuffer } from './resend-buffer.ts';

type Final = Extract<ServerMessage, { type: 'stt_final' }>;

/** A final with where it lies in the client's stream (seconds since the session began). */
export interface SessionFinal extends Final {
  streamStart: number;
  streamEnd: number;
}

export interface Reconnect {
  /** Close code of the lost connection (1012: the instance drained; 1006: it vanished). */
  code: number;
  /** From the loss to stt_listening on the new connection, ms. */
  gapMs: number;
  /** From the loss to the new WebSocket being open (the part the balancer and the network take), ms. */
  openMs: number;
  /** Seconds of audio sent again. */
  resentSeconds: number;
}

export interface ReconnectingOptions extends ConnectOptions {
  sessionId?: string;
  /** Rate of the PCM16 audio sent (default 16000). */
  sampleRate?: number;
  /** Audio kept for a resend, seconds (default 60). */
  maxUnansweredSeconds?: number;
  /** Delay before reconnect attempt n (0-based), ms; default 50·2^n up to 2000. */
  retryDelayMs?: (attempt: number) => number;
  /** Give up reconnecting after this long, ms (default 60000). */
  giveUpAfterMs?: number;
}

interface Events {
  final: SessionFinal;
  reconnect: Reconnect;
  message: ServerMessage;
}

/** A start refused by these is worth retrying on another connection. */
const RETRY_START = new Set(['SHUTTING_DOWN', 'OVERLOADED']);

export class ReconnectingSession {
  readonly sessionId: string;
  readonly reconnects: Reconnect[] = [];
  /** Finals ignored because their audio had already been answered. */
  duplicates = 0;
  private readonly buffer: ResendBuffer;
  private readonly listeners: { [E in keyof Events]: Set<(e: Events[E]) => void> } = { final: new Set(), reconnect: new Set(), message: new Set() };
  private client?: EarshotClient;
  /** True while the current connection has started and replayed: live frames go straight out. */
  private live = false;
  private closing = false;
  /** Resolves when a connection is live again (after a loss). */
  private ready: Promise<void>;

  private constructor(
    private readonly url: string,
    private readonly options: ReconnectingOptions,
  ) {
    this.sessionId = options.sessionId ?? randomUUID();
    this.buffer = new ResendBuffer(options.sampleRate ?? 16000, options.maxUnansweredSeconds);
    this.ready = this.attach();
  }

  /** Connects and starts the session (retrying like a reconnect). */
  static async open(url: string, options: ReconnectingOptions = {}): Promise<ReconnectingSession> {
    const session = new ReconnectingSession(url, options);
    await session.ready;
    return session;
  }

  on<E extends keyof Events>(event: E, listener: (e: Events[E]) => void): () => void {
    const set = this.listeners[event] as Set<(e: Events[E]) => void>;
    set.add(listener);
    return () => set.delete(listener);
  }

  /** One PCM16 frame: sent now when connected, and kept until a final answers it. */
  sendAudio(pcm16: Uint8Array): void {
    this.buffer.push(pcm16);
    if (this.live && this.client?.open) this.client.sendAudio(pcm16);
  }

  /** Float samples as PCM16 frames of chunkMs, paced at real time unless realtime is false. */
  async streamPcm(samples: Float32Array, options: { chunkMs?: number; realtime?: boolean } = {}): Promise<void> {
    const { chunkMs = 100, realtime = true } = options;
    const step = Math.max(1, Math.round((this.buffer.sampleRate * chunkMs) / 1000));
    const t0 = performance.now();
    for (let i = 0, n = 0; i < samples.length; i += step, n++) {
      if (this.closing) return;
      this.sendAudio(toPcm16(samples.subarray(i, i + step)));
      if (!realtime) continue;
      const wait = t0 + (n + 1) * chunkMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

  /**
   * stt_stop; resolves after the last final, on stt_state idle — on whichever connection gets there (a connection
   * lost meanwhile is replaced, the unanswered audio sent again, and stt_stop sent again). No reconnect afterwards.
   */
  async stop(timeoutMs = 60000): Promise<void> {
    const until = performance.now() + timeoutMs;
    for (;;) {
      await this.ready;
      try {
        await this.client!.stop(Math.max(1, until - performance.now()));
        this.closing = true;
        return;
      } catch (e) {
        if (!(e instanceof EarshotError && e.code === 'CLOSED') || performance.now() > until) throw e;
        await new Promise((r) => setTimeout(r, 10)); // let the loss be noticed and the reconnect begin
      }
    }
  }

  /** Closes for good (no reconnect). */
  async close(): Promise<void> {
    this.closing = true;
    this.live = false;
    await this.client?.close();
  }

  private emit<E extends keyof Events>(event: E, payload: Events[E]): void {
    for (const l of this.listeners[event] as Set<(e: Events[E]) => void>) l(payload);
  }

  /** Connects (retrying with backoff), starts, replays the unanswered audio; then watches for the next loss. */
  private async attach(lost?: { at: number; code: number }): Promise<void> {
    const { retryDelayMs = (n: number) => Math.min(2000, 50 * 2 ** n), giveUpAfterMs = 60000 } = this.options;
    const since = lost?.at ?? performance.now();
    for (let attempt = 0; ; attempt++) {
      if (this.closing) return;
      let client: EarshotClient | undefined;
      try {
        client = await EarshotClient.connect(this.url, this.options);
        const openedAt = performance.now();
        this.wire(client);
        await client.start(this.sessionId, { sampleRate: this.buffer.sampleRate, timeoutMs: 30000 });
        const frames = this.buffer.replay();
        for (const frame of frames) client.sendAudio(frame);
        this.client = client;
        this.live = true;
        if (lost) {
          const resentSeconds = frames.reduce((s, f) => s + f.length, 0) / 2 / this.buffer.sampleRate;
          const r = { code: lost.code, gapMs: performance.now() - lost.at, openMs: openedAt - lost.at, resentSeconds };
          this.reconnects.push(r);
          this.emit('reconnect', r);
        }
        void client.closed().then(({ code }) => this.onLost(client!, code));
        return;
      } catch (e) {
        client?.ws.terminate();
        const retryable = !(e instanceof EarshotError) || RETRY_START.has(e.code) || e.code === 'CLOSED';
        if (!retryable || performance.now() - since > giveUpAfterMs) throw e;
        await new Promise((r) => setTimeout(r, retryDelayMs(attempt)));
      }
    }
  }

  private wire(client: EarshotClient): void {
    client.on('message', (m) => {
      if (client === this.client) this.emit('message', m);
    });
    client.on('final', (m) => {
      const span = this.buffer.acknowledge(m.start, m.end);
      if (!span) {
        this.duplicates++;
        return;
      }
      this.emit('final', { ...m, streamStart: span.start, streamEnd: span.end });
    });
    client.on('discarded', (m) => {
      this.buffer.acknowledge(m.start, m.end);
    });
  }

  private onLost(client: EarshotClient, code: number): void {
    if (client !== this.client || this.closing) return;
    this.live = false;
    this.ready = this.attach({ at: performance.now(), code });
    this.ready.catch(() => {});
  }
}
