/**
 * Reconnect and resend: the retry delays, and the session that outlives its connections (its id, its rate, and the
 * audio no final has answered yet, sent again under the same session_id on the next connection, so that every
 * utterance still gets exactly one final).
 */
import { DEFAULT_SAMPLE_RATE, type ServerMessage, type ServerMessageOf } from '../protocol/seed-messages.ts';
import { RETRY_START_ERRORS, startMessage, type Reconnect, type SessionFinal } from './client-codec.ts';
import { ResendBuffer } from './resend-buffer.ts';

export interface ReconnectOptions {
  /** First retry delay, doubled after each failed attempt (default 250 ms). */
  initialDelayMs: number;
  /** Cap on the retry delay (default 5000 ms). */
  maxDelayMs: number;
}

/** Delay before reconnect attempt number `attempt` (0-based): initial·2^attempt, capped, ±20 % jitter. */
export function backoffDelay(attempt: number, config: ReconnectOptions, random: () => number = Math.random): number {
  const base = Math.min(config.maxDelayMs, config.initialDelayMs * 2 ** Math.min(attempt, 30));
  return Math.round(Math.min(config.maxDelayMs, base * (0.8 + 0.4 * random())));
}

/** The session (stt_start … stt_stop) and its audio not yet covered by a final. */
export class SessionResume {
  /** The session_id of the last start(). */
  id?: string;
  sampleRate = DEFAULT_SAMPLE_RATE;
  /** Between start() and the stt_state idle that answers stop(). */
  active = false;
  stopRequested = false;
  /** stt_start went out on the current socket. */
  startSent = false;
  /** stt_listening answered the session's stt_start on the current socket. */
  listening = false;
  /** Sessions resumed on a new connection. */
  readonly reconnects: Reconnect[] = [];
  /** Finals not reported because their audio had already been answered. */
  duplicates = 0;
  /** Whether stt_start declares the rate (the seed's clients never do). */
  private explicitRate = false;
  /** stt_start.agc when the caller set it. */
  private agc?: boolean;
  /** The audio no final has answered yet (null without a session, or with resend off). */
  private resend: ResendBuffer | null = null;
  /** When the last connection with a session was lost, and its close code. */
  private lostAt: { at: number; code: number } | null = null;
  private resentSeconds = 0;

  /** `resendSeconds`: audio kept for a resend (0: none); `keyterms` go with every stt_start (ClientOptions.keyterms). */
  constructor(
    private readonly resendSeconds: number,
    private readonly keyterms?: string[],
  ) {}

  begin(id: string, sampleRate: number | undefined, agc?: boolean): void {
    this.id = id;
    this.agc = agc;
    this.sampleRate = sampleRate ?? DEFAULT_SAMPLE_RATE;
    this.explicitRate = sampleRate !== undefined;
    this.active = true;
    this.stopRequested = false;
    this.resend = this.resendSeconds > 0 ? new ResendBuffer(this.sampleRate, this.resendSeconds) : null;
    this.startSent = this.listening = false;
  }

  end(): void {
    this.active = false;
    this.stopRequested = false;
    this.resend = null;
    this.lostAt = null;
  }

  startMessage(): Record<string, unknown> {
    return startMessage(this.id, this.explicitRate ? this.sampleRate : undefined, this.keyterms, this.agc);
  }

  /** Frames are kept until a final covers them (false: resend is off, or there is no session). */
  get keepsAudio(): boolean {
    return this.resend !== null;
  }

  /** Keeps a frame (by reference) for a resend. */
  keep(bytes: Uint8Array): void {
    this.resend?.push(bytes);
  }

  /** Seconds of audio kept for a resend. */
  get pendingSeconds(): number {
    return this.resend?.pendingSeconds ?? 0;
  }

  /** The socket is gone; `connected`: it was open, so a listening session was cut (and resumes on the next). */
  lost(code: number, connected: boolean): void {
    if (this.active && connected) this.lostAt = { at: performance.now(), code };
    this.startSent = this.listening = false;
  }

  /** After stt_start on a new connection: the frames to send again. */
  replay(): Uint8Array[] {
    const frames = this.resend?.replay() ?? [];
    this.resentSeconds = frames.reduce((n, f) => n + f.byteLength, 0) / 2 / this.sampleRate;
    return frames;
  }

  /**
   * Bookkeeping for a message other than a final: the reconnect an stt_listening of this session completes, or
   * `retry` when a draining or full instance refused its start and `canRetry` (another connection may take it).
   */
  observe(msg: ServerMessage, canRetry: boolean): Reconnect | 'retry' | undefined {
    if (!this.active || msg.type === 'pong' || msg.session_id !== this.id) return undefined;
    if (msg.type === 'stt_listening') {
      this.listening = true;
      if (!this.lostAt) return undefined;
      const r = { code: this.lostAt.code, gapMs: performance.now() - this.lostAt.at, resentSeconds: this.resentSeconds };
      this.lostAt = null;
      this.reconnects.push(r);
      return r;
    }
    // Audio of a discarded utterance needs no resend either.
    if (msg.type === 'stt_discarded' && typeof msg.end === 'number') this.resend?.acknowledge(msg.start, msg.end);
    if (msg.type === 'stt_error' && canRetry && !this.listening && RETRY_START_ERRORS.has(msg.code)) return 'retry';
    return undefined;
  }

  /** A final as reported: with its span on the client's stream, or null for audio already answered (a duplicate). */
  final(msg: ServerMessageOf<'stt_final'>): SessionFinal | null {
    if (!this.resend || msg.session_id !== this.id || typeof msg.end !== 'number') return msg;
    const span = this.resend.acknowledge(msg.start, msg.end);
    if (!span) {
      this.duplicates++;
      return null;
    }
    return { ...msg, streamStart: span.start, streamEnd: span.end };
  }
}
