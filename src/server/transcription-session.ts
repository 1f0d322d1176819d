import { randomUUID } from 'node:crypto';
import type { DiscardReason, Recorder, RecorderState } from '../recorder/recorder.ts';
import type { TranscriptionService } from '../pipeline/transcription-service.ts';
import type { Logger } from './logger.ts';
import type { ErrorCode, NoticeCode } from '../protocol/seed-messages.ts';
import { wireRecorder } from './recorder-events.ts';
import { sessionKeyterms, updateKeyterms } from './session-keyterms.ts';
import { keepBacklog, newCycle, rateMismatch, type Cycle, type CycleOptions } from './session-cycle.ts';
import type { SessionHost, SessionTransport } from './session-host.ts';

export type { CycleOptions } from './session-cycle.ts';
export type { SessionHost, SessionTransport, SlotRefusal } from './session-host.ts';

/**
 * The transport-neutral session core: PCM16 in (any rate), events out, commands in (start, stop/commit, close). Every
 * protocol (the seed's WebSocket, OpenAI realtime, Wyoming, Deepgram live) is an adapter that only translates its
 * messages to these calls and these events to its messages; the utterance cycle, slots, backpressure, bounded send
 * buffers, drain and metrics live here once.
 */

/**
 * Audio a client may be ahead of the VAD (it sends faster than real time, say): beyond this the transport stops being
 * read until the recorder has caught up, so memory stays bounded and the client feels TCP backpressure.
 */
const MAX_INPUT_BACKLOG_SECONDS = 20;

/** Events out; `utterance` is 1-based within a cycle, times are seconds since the cycle's first sample. */
export type SessionEvent =
  | { type: 'listening'; sampleRate: number }
  | { type: 'state'; state: RecorderState }
  | { type: 'vad_start' }
  | { type: 'vad_stop' }
  | { type: 'speech_started'; utterance: number; start: number }
  | { type: 'speech_stopped'; utterance: number; start: number; end: number }
  | { type: 'partial'; utterance: number; text: string }
  | { type: 'stabilized'; utterance: number; text: string }
  | {
      type: 'final';
      utterance: number;
      text: string;
      start: number;
      end: number;
      latencyMs: number;
      processingMs: number;
      model: string;
    }
  | { type: 'discarded'; utterance: number; reason: DiscardReason; start: number; end: number }
  | { type: 'error'; code: ErrorCode; message: string; utterance?: number }
  | { type: 'notice'; code: NoticeCode; message: string }; // not an error: the session goes on

/** Events a slow reader may lose: a later one supersedes them. */
const DROPPABLE: ReadonlySet<SessionEvent['type']> = new Set(['partial', 'stabilized']);

/** An adapter's handler: the event, and the tag of the cycle it belongs to (undefined outside any cycle). */
export type SessionListener<Tag> = (event: SessionEvent, tag: Tag | undefined) => void;

/**
 * One client's transcription session: any number of cycles, one listening at a time, each with a fresh Recorder from
 * the shared TranscriptionService. Commands run one after another on a promise chain, so a start that follows a stop
 * waits for the final of the stopped cycle; audio is handled synchronously and never waits. No method throws.
 */
export class TranscriptionSession<Tag = unknown> {
  /** Connection id (server side; never shown in place of a client's own id). */
  readonly id = randomUUID();
  /** The cycle receiving audio, if listening. */
  private cycle?: Cycle<Tag>;
  /** Cycles not yet finished: the listening one plus any still stopping. */
  private readonly cycles = new Set<Cycle<Tag>>();
  private cycleCount = 0;
  private holdsSlot = false;
  private ops: Promise<void> = Promise.resolve();
  private closed = false;
  private cutting = false;
  private paused = false;
  /** Set while draining: closes the connection after the next final or discard (see drain()). */
  private drained?: { timer: NodeJS.Timeout; close(): void };
  /** Log lines about this session carry its id as `session`. */
  private readonly log: Logger;
  /** With transport.closeIdle: closes the connection when it is not listening, or stops a cycle that gets no audio. */
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly host: SessionHost,
    private readonly transport: SessionTransport,
    private readonly listener: SessionListener<Tag>,
    /** The adapter's name, a label on metrics. */
    readonly protocol: string,
  ) {
    this.log = host.log.child({ session: this.id, protocol });
    this.rearm(host.startTimeoutMs);
  }

  get listening(): boolean {
    return this.cycle !== undefined;
  }

  /** The listening cycle's tag. */
  get tag(): Tag | undefined {
    return this.cycle?.tag;
  }

  /** Resolves when the commands received so far have been carried out. */
  idle(): Promise<void> {
    return this.ops;
  }

  /**
   * Starts listening. A start while listening stops the running cycle first (its final is still delivered). False,
   * with an error event, when the server is shutting down or full.
   */
  start(options: CycleOptions<Tag>): boolean {
    if (this.closed) return false;
    if (this.host.shuttingDown) {
      this.error('SHUTTING_DOWN', 'the server is shutting down', options.tag);
      return false;
    }
    if (!this.holdsSlot) {
      const refused = this.host.acquireSlot();
      if (refused) {
        this.error(refused.code, refused.message, options.tag);
        return false;
      }
      this.holdsSlot = true;
      this.host.metrics.sessionsStarted.inc({ protocol: this.protocol });
    }
    if (this.cycle) this.stop();
    const cycle = newCycle(++this.cycleCount, options);
    this.cycle = cycle;
    this.cycles.add(cycle);
    this.rearm(this.host.audioIdleTimeoutMs);
    this.enqueue(() => this.startCycle(cycle));
    return true;
  }

  /** PCM16 little-endian mono at the cycle's rate. False when not listening (the adapter says so in its own words). */
  appendAudio(bytes: Uint8Array): boolean {
    const cycle = this.cycle;
    if (this.closed || !cycle) return false;
    cycle.lastAudioAt = performance.now();
    if (bytes.length === 0) return true;
    const mismatch = cycle.rateCheck && rateMismatch(cycle, bytes.length);
    if (mismatch) this.error('SAMPLE_RATE_MISMATCH', mismatch, cycle.tag);
    if (cycle.recorder) {
      this.feed(cycle, cycle.recorder, bytes);
      return true;
    }
    keepBacklog(cycle, bytes);
    return true;
  }

  /**
   * Stops listening: the utterance in progress is finished and its final delivered, then state idle. While not
   * listening, the idle state is still reported, so a client waiting for it is not stuck. Resolves when done.
   */
  stop(): Promise<void> {
    const cycle = this.cycle;
    if (cycle) {
      this.cycle = undefined;
      this.enqueue(() => this.finishCycle(cycle));
    } else {
      this.enqueue(async () => {
        if (!this.cycle) this.emit({ type: 'state', state: 'idle' }, undefined);
      });
    }
    return this.ops;
  }

  /**
   * Drops the audio of the listening cycle (no final for the utterance in progress) and goes on listening with the
   * same settings: OpenAI's input_audio_buffer.clear, say.
   */
  clear(): void {
    const cycle = this.cycle;
    if (!cycle || this.closed) return;
    this.cycle = undefined;
    this.cycles.delete(cycle);
    this.dropCycle(cycle);
    this.start({ sampleRate: cycle.sampleRate, tag: cycle.tag, recorder: cycle.recorderConfig, keyterms: cycle.keyterms });
  }

  /** Counts an error and reports it to the adapter (for its own protocol errors too, so metrics see them all). */
  error(code: ErrorCode, message: string, tag: Tag | undefined = this.cycle?.tag, utterance?: number): void {
    this.host.metrics.errors.inc({ code });
    const event: SessionEvent = { type: 'error', code, message };
    if (utterance !== undefined) event.utterance = utterance;
    this.emit(event, tag);
  }

  /**
   * Drain (the instance is going away): `close` is called right after the next final or discard, or at once when no
   * utterance is in progress, so no sentence is cut; a client that resends its unanswered audio goes on elsewhere.
   * After `boundMs` the utterance in progress is finished instead (its final is still delivered), then `close`.
   */
  drain(boundMs: number, close: () => void): void {
    if (this.closed || this.drained) return;
    const state = this.cycle?.recorder?.state;
    const stopping = this.cycles.size > (this.cycle ? 1 : 0);
    if (!stopping && state !== 'recording' && state !== 'transcribing') {
      close();
      return;
    }
    const timer = setTimeout(() => void this.shutdown().then(() => this.closeDrained()), boundMs);
    timer.unref();
    this.drained = { timer, close };
  }

  private closeDrained(): void {
    const drained = this.drained;
    if (!drained || this.closed) return;
    clearTimeout(drained.timer);
    drained.close();
  }

  /** Graceful end (server shutdown): stop listening and deliver the final in progress. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    if (this.cycle) void this.stop();
    await this.ops;
  }

  /** The connection is gone: drop everything at once (nobody is left to receive a final) and free the slot. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    if (this.drained) clearTimeout(this.drained.timer);
    this.cycle = undefined;
    for (const c of this.cycles) this.dropCycle(c);
    this.cycles.clear();
    this.releaseSlot();
  }

  // ---- cycles -------------------------------------------------------------------------------------------------

  private feed(cycle: Cycle<Tag>, recorder: Recorder, bytes: Uint8Array): void {
    recorder.feedAudio(bytes, cycle.sampleRate);
    cycle.fedSeconds += bytes.length / 2 / cycle.sampleRate;
    if (this.paused || !this.transport.pause || cycle.fedSeconds - recorder.time < MAX_INPUT_BACKLOG_SECONDS) return;
    this.paused = true;
    this.host.metrics.inputPauses.inc();
    this.transport.pause();
    void recorder.drain().finally(() => {
      this.paused = false;
      if (!this.closed) this.transport.resume?.();
    });
  }

  private enqueue(op: () => Promise<void>): void {
    this.ops = this.ops.then(op).catch((e: unknown) => {
      this.log.error({ err: e }, 'failed');
      this.error('INTERNAL_ERROR', 'internal error');
    });
  }

  /** New keyterms for the listening cycle (Deepgram's Configure, OpenAI's session.update), in order with its audio. */
  updateKeyterms(keyterms: NonNullable<CycleOptions<Tag>['keyterms']>): Promise<boolean> {
    const refuse = (m: string, tag: Tag | undefined) => this.error('BAD_KEYTERMS', m, tag);
    return new Promise((done) => this.enqueue(() => updateKeyterms(this.cycle, keyterms, this.host, refuse).then(done, (e: unknown) => (done(false), Promise.reject(e)))));
  }

  private async startCycle(cycle: Cycle<Tag>): Promise<void> {
    const keyterms = await sessionKeyterms(cycle.keyterms, this.host, (m) => this.error('BAD_KEYTERMS', m, cycle.tag));
    if (!keyterms) return this.abandon(cycle);
    let service: TranscriptionService;
    try {
      service = await this.host.service();
    } catch (e) {
      this.error('MODEL_LOAD_ERROR', `the transcription models failed to load: ${(e as Error).message}`, cycle.tag);
      this.abandon(cycle);
      return;
    }
    if (this.closed || !this.cycles.has(cycle)) return;
    let recorder: Recorder;
    try {
      const config = cycle.recorderConfig ? { ...this.host.recorderConfig, ...cycle.recorderConfig } : this.host.recorderConfig;
      // An odd rate's filter is built in slices meanwhile (audio waits in the backlog), not on the first frame.
      recorder = await service.createRecorder(`${this.id}#${cycle.number}`, config, cycle.sampleRate, keyterms);
    } catch (e) {
      this.error('MODEL_LOAD_ERROR', `could not set up a recorder: ${(e as Error).message}`, cycle.tag);
      this.abandon(cycle);
      return;
    }
    if (this.closed || !this.cycles.has(cycle)) {
      recorder.shutdown();
      return;
    }
    wireRecorder(recorder, cycle, this.host.metrics, {
      emit: (event, tag) => this.emit(event, tag),
      error: (code, message, tag, utterance) => this.error(code, message, tag, utterance),
      settled: () => this.closeDrained(),
      log: this.log,
    });
    cycle.recorder = recorder;
    this.emit({ type: 'listening', sampleRate: cycle.sampleRate }, cycle.tag);
    recorder.start();
    for (const chunk of cycle.backlog) this.feed(cycle, recorder, chunk);
    cycle.backlog = [];
    cycle.backlogBytes = 0;
  }

  private async finishCycle(cycle: Cycle<Tag>): Promise<void> {
    if (this.closed) return;
    const recorder = cycle.recorder;
    if (recorder) {
      try {
        await recorder.stop(); // emits stateChange idle after the last final
      } catch (e) {
        if (!this.closed) this.log.warn(`stop failed: ${(e as Error).message}`);
      }
      recorder.shutdown();
    }
    if (this.closed) return;
    // A cycle that never got a recorder (models failed to load) still answers its stop.
    if (!recorder) this.emit({ type: 'state', state: 'idle' }, cycle.tag);
    this.cycles.delete(cycle);
    this.releaseIfDone();
  }

  /** A cycle that could not start: forget it (a stop for it still answers idle). */
  private abandon(cycle: Cycle<Tag>): void {
    if (this.cycle === cycle) this.cycle = undefined;
    this.cycles.delete(cycle);
    cycle.backlog = [];
    this.releaseIfDone();
  }

  private dropCycle(cycle: Cycle<Tag>): void {
    cycle.backlog = [];
    try {
      cycle.recorder?.shutdown();
    } catch (e) {
      this.log.warn(`recorder shutdown failed: ${(e as Error).message}`);
    }
  }

  private releaseIfDone(): void {
    if (this.cycles.size > 0) return;
    this.releaseSlot();
    // Not listening any more: the connection has startTimeoutMs to start again.
    if (!this.cycle && !this.closed) this.rearm(this.host.startTimeoutMs);
  }

  private rearm(ms: number): void {
    if (!this.transport.closeIdle) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimer(), Math.max(10, ms)).unref();
  }

  /** While listening: stop a cycle without audio for audioIdleTimeoutMs; otherwise close after startTimeoutMs. */
  private onTimer(): void {
    if (this.closed) return;
    const cycle = this.cycle;
    if (cycle) {
      const idle = performance.now() - cycle.lastAudioAt;
      if (idle < this.host.audioIdleTimeoutMs) {
        this.rearm(this.host.audioIdleTimeoutMs - idle);
        return;
      }
      this.error('AUDIO_IDLE_TIMEOUT', `no audio for ${Math.round(idle / 1000)} s: the session was stopped (what was said is finished first); send stt_start to listen again`, cycle.tag);
      void this.stop();
      return;
    }
    if (this.cycles.size > 0) return; // a final is still on its way; releaseIfDone re-arms afterwards
    this.error('START_TIMEOUT', `no stt_start within ${Math.round(this.host.startTimeoutMs / 1000)} s; closing the connection (connect again when there is audio to send)`, undefined);
    this.transport.closeIdle!('no stt_start in time');
  }

  private releaseSlot(): void {
    if (!this.holdsSlot) return;
    this.holdsSlot = false;
    this.host.releaseSlot();
  }

  // ---- output -------------------------------------------------------------------------------------------------

  /**
   * Bounded send buffer: above the soft limit partials are dropped, since a newer one supersedes them; above the hard
   * limit the client is not reading at all and is cut.
   */
  private emit(event: SessionEvent, tag: Tag | undefined): void {
    if (this.closed || this.cutting) return;
    const buffered = this.transport.bufferedAmount;
    if (buffered > this.host.sendHardLimitBytes) {
      this.cutting = true;
      this.log.warn(`client not reading (${buffered} bytes queued); closing`);
      this.host.metrics.errors.inc({ code: 'SLOW_CONSUMER' });
      this.transport.cut('client is not reading its messages');
      return;
    }
    if (buffered > this.host.sendSoftLimitBytes && DROPPABLE.has(event.type)) {
      this.host.metrics.droppedMessages.inc();
      return;
    }
    this.listener(event, tag);
  }
}
