import { randomUUID } from 'node:crypto';
import { ASR_SAMPLE_RATE } from '../asr/engine.ts';
import { prepareResampler } from '../audio/resample.ts';
import type { Recorder } from '../recorder/recorder.ts';
import type { RecorderConfig } from '../recorder/recorder-config.ts';
import type { TranscriptionService } from '../recorder/transcription-service.ts';
import { streamChatReply, type ChatEndpoint, type ChatMessage } from './chat-completions.ts';
import type { Logger } from './logger.ts';
import type { ServerMetrics } from './metrics.ts';
import {
  DEFAULT_SAMPLE_RATE,
  DROPPABLE_TYPES,
  MAX_AUDIO_FRAME_BYTES,
  MAX_SAMPLE_RATE,
  MAX_SESSION_ID_LENGTH,
  MAX_TEXT_MESSAGE_BYTES,
  MIN_SAMPLE_RATE,
  CLOSE_START_TIMEOUT,
  type ErrorCode,
  type ServerMessage,
} from './protocol.ts';

/** The part of a `ws` WebSocket a session uses (a fake one in unit tests). */
export interface SessionSocket {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  /** Stop/restart reading from the socket (TCP backpressure on a client that sends audio faster than it is processed). */
  pause?(): void;
  resume?(): void;
}

const OPEN = 1;

/** What a session needs from its server. */
export interface SessionHost {
  /** The shared models; rejects when they failed to load. */
  service(): Promise<TranscriptionService>;
  /** Takes one of the server's session slots for this connection's client; the refusal when none is left. */
  acquireSlot(): SlotRefusal | undefined;
  releaseSlot(): void;
  /** A connection that is not listening is closed this long after its last cycle ended (or it opened). */
  readonly startTimeoutMs: number;
  /** A listening cycle that receives no audio for this long is stopped. */
  readonly audioIdleTimeoutMs: number;
  readonly shuttingDown: boolean;
  readonly metrics: ServerMetrics;
  readonly log: Logger;
  readonly sendSoftLimitBytes: number;
  readonly sendHardLimitBytes: number;
  readonly recorderConfig?: Partial<RecorderConfig>;
  /** Where prompts get their replies; none: the conversation is only kept. */
  readonly chat?: ChatEndpoint;
}

export interface SlotRefusal {
  code: Extract<ErrorCode, 'OVERLOADED' | 'CLIENT_LIMIT'>;
  message: string;
}

/** One stt_start … stt_stop cycle: its own Recorder, session id and sample rate. */
interface Cycle {
  number: number;
  sessionId: string;
  sampleRate: number;
  recorder?: Recorder;
  /** Audio that arrived before the recorder was ready (the seed's client streams right after stt_start). */
  backlog: Uint8Array[];
  backlogBytes: number;
  /** The utterance partials currently belong to. */
  utterance: number;
  /** Seconds of audio fed to the recorder (compared with recorder.time, the seconds it has been through the VAD). */
  fedSeconds: number;
  /** performance.now() of the last audio frame (or of stt_start). */
  lastAudioAt: number;
  /** Arrival-rate check of the declared sample_rate (see checkRate); undefined once done. */
  rateCheck?: { firstAt: number; bytes: number };
  /** performance.now() at the recording start of an utterance still waiting for its first partial. */
  awaitingFirstPartialSince?: number;
}

/** Audio kept while a cycle's recorder is being set up (models still loading, say); older frames are dropped. */
const MAX_BACKLOG_SECONDS = 30;
/**
 * Audio a client may be ahead of the VAD (it sends faster than real time, say): beyond this the socket stops being read
 * until the recorder has caught up, so memory stays bounded and the client feels TCP backpressure.
 */
const MAX_INPUT_BACKLOG_SECONDS = 20;
/**
 * A mis-declared sample_rate is told apart by the audio's arrival rate: after this long a real-time client has sent
 * enough to measure it. Rates a client is likely to send by mistake are the common device rates.
 */
const RATE_CHECK_MS = 5000;
const COMMON_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000];
/** A client over the hard send limit gets a close frame; if it does not even read that, it is cut after this. */
const CLOSE_GRACE_MS = 2000;
const RESTART_REASON = 'server restarting; reconnect';

export interface ConversationEntry {
  role: 'user' | 'assistant';
  text: string;
  at: number;
}
const MAX_CONVERSATION = 100;

/**
 * One WebSocket connection speaking the /ws/stream protocol. The connection may run many stt_start/stt_stop
 * cycles; each gets a fresh Recorder from the shared TranscriptionService. Control messages run one after another
 * on a promise chain, so a stt_start that follows a stt_stop waits for the final of the stopped cycle; audio is
 * handled synchronously and never waits. No method throws: every client input is answered, at worst, with stt_error.
 */
export class Session {
  /** Connection id (server side; never echoed in place of the client's session_id). */
  readonly id = randomUUID();
  readonly conversation: ConversationEntry[] = [];
  /** The cycle receiving audio, if listening. */
  private cycle?: Cycle;
  /** Cycles not yet finished: the listening one plus any still stopping. */
  private readonly cycles = new Set<Cycle>();
  private cycleCount = 0;
  private holdsSlot = false;
  private ops: Promise<void> = Promise.resolve();
  /** Assistant replies, one at a time; aborted when the connection goes. */
  private replies: Promise<void> = Promise.resolve();
  private readonly chatAbort = new AbortController();
  /** NOT_LISTENING is reported once per burst of audio frames (reset by any text message). */
  private notListeningReported = false;
  private lastSessionId: string | null = null;
  private closed = false;
  private cutting = false;
  private paused = false;
  /** Closes the connection when it is not listening (START_TIMEOUT) or stops a cycle that gets no audio. */
  private timer: NodeJS.Timeout;
  /** Set once drain() waits for a final. */
  private drainTimer?: NodeJS.Timeout;

  /** Log lines about this connection carry its id as `session`. */
  private readonly log: Logger;

  constructor(
    private readonly ws: SessionSocket,
    private readonly host: SessionHost,
  ) {
    this.log = host.log.child({ session: this.id });
    this.timer = setTimeout(() => this.onTimer(), host.startTimeoutMs).unref();
  }

  get listening(): boolean {
    return this.cycle !== undefined;
  }

  /** Resolves when the control messages received so far have been carried out. */
  idle(): Promise<void> {
    return this.ops;
  }

  /** A WebSocket message in. Never throws. */
  handleMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    try {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (isBinary) this.handleAudio(buf);
      else this.handleText(buf);
    } catch (e) {
      this.log.error({ err: e }, 'failed');
      this.sendError('INTERNAL_ERROR', 'internal error handling the message', this.lastSessionId);
    }
  }

  /** Graceful end (server shutdown): stop listening, deliver the final in progress, then close (1001 by default). */
  async shutdown(code = 1001, reason = 'server shutting down'): Promise<void> {
    if (this.closed) return;
    if (this.cycle) this.stopCycle();
    await this.ops;
    if (this.ws.readyState === OPEN) this.ws.close(code, reason);
  }

  /**
   * Drain (the instance is going away): close with 1012 right after the next final or discard, or at once when no
   * utterance is in progress, so no sentence is cut; a client that resends its unanswered audio goes on elsewhere.
   * After `boundMs` the utterance in progress is cut instead (its final is still delivered).
   */
  drain(boundMs: number): void {
    if (this.closed || this.drainTimer) return;
    const state = this.cycle?.recorder?.state;
    const stopping = this.cycles.size > (this.cycle ? 1 : 0);
    if (!stopping && state !== 'recording' && state !== 'transcribing') {
      this.closeForRestart();
      return;
    }
    this.drainTimer = setTimeout(() => void this.shutdown(1012, RESTART_REASON), boundMs);
    this.drainTimer.unref();
  }

  private closeForRestart(): void {
    clearTimeout(this.drainTimer);
    if (!this.closed && this.ws.readyState === OPEN) this.ws.close(1012, RESTART_REASON);
  }

  /** The socket is gone: drop everything at once (nobody is left to receive a final) and free the slot. */
  handleClose(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.drainTimer);
    this.chatAbort.abort();
    this.cycle = undefined;
    for (const c of this.cycles) this.dropCycle(c);
    this.cycles.clear();
    if (this.holdsSlot) {
      this.holdsSlot = false;
      this.host.releaseSlot();
    }
  }

  // ---- input --------------------------------------------------------------------------------------------------

  private handleAudio(buf: Buffer): void {
    if (this.closed) return;
    if (buf.length > MAX_AUDIO_FRAME_BYTES) {
      this.sendError('AUDIO_FRAME_TOO_LARGE', `audio frame of ${buf.length} bytes is over the limit of ${MAX_AUDIO_FRAME_BYTES} bytes; send smaller frames (e.g. 100 ms)`, this.cycle?.sessionId ?? this.lastSessionId);
      return;
    }
    const cycle = this.cycle;
    if (!cycle) {
      if (this.host.shuttingDown) return;
      if (!this.notListeningReported) {
        this.notListeningReported = true;
        this.sendError('NOT_LISTENING', 'audio received while not listening; send {"type":"stt_start","session_id":...} first', this.lastSessionId);
      }
      return;
    }
    cycle.lastAudioAt = performance.now();
    if (buf.length === 0) return;
    if (cycle.rateCheck) this.checkRate(cycle, buf.length);
    if (cycle.recorder) {
      this.feed(cycle, cycle.recorder, buf);
      return;
    }
    cycle.backlog.push(Uint8Array.from(buf));
    cycle.backlogBytes += buf.length;
    const max = MAX_BACKLOG_SECONDS * cycle.sampleRate * 2;
    while (cycle.backlogBytes > max && cycle.backlog.length > 1) {
      const dropped = cycle.backlog.shift()!;
      // Keep byte parity, so that PCM16 sample boundaries stay where they were.
      if (dropped.length % 2 === 1) cycle.backlog[0] = cycle.backlog[0]!.subarray(1);
      cycle.backlogBytes -= dropped.length + (dropped.length % 2);
    }
  }

  private feed(cycle: Cycle, recorder: Recorder, bytes: Uint8Array): void {
    recorder.feedAudio(bytes, cycle.sampleRate);
    cycle.fedSeconds += bytes.length / 2 / cycle.sampleRate;
    if (this.paused || !this.ws.pause || cycle.fedSeconds - recorder.time < MAX_INPUT_BACKLOG_SECONDS) return;
    this.paused = true;
    this.host.metrics.inputPauses.inc();
    this.ws.pause();
    void recorder.drain().finally(() => {
      this.paused = false;
      if (!this.closed) this.ws.resume?.();
    });
  }

  private handleText(buf: Buffer): void {
    this.notListeningReported = false;
    if (buf.length > MAX_TEXT_MESSAGE_BYTES) {
      this.sendError('BAD_MESSAGE', `text message of ${buf.length} bytes is over the limit of ${MAX_TEXT_MESSAGE_BYTES} bytes`, this.lastSessionId);
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(buf.toString('utf8'));
    } catch {
      this.sendError('BAD_MESSAGE', 'text messages must be JSON objects such as {"type":"stt_start","session_id":"..."}', this.lastSessionId);
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.sendError('BAD_MESSAGE', 'text messages must be JSON objects with a "type"', this.lastSessionId);
      return;
    }
    const m = msg as Record<string, unknown>;
    const sid = typeof m.session_id === 'string' && m.session_id.length <= MAX_SESSION_ID_LENGTH ? m.session_id : this.lastSessionId;
    switch (m.type) {
      case 'stt_start':
        this.onStart(m);
        return;
      case 'stt_stop':
        this.onStop();
        return;
      case 'ping':
        this.send({ type: 'pong' });
        return;
      case 'prompt':
        this.onPrompt(m);
        return;
      default:
        if (typeof m.type === 'object' && m.type !== null) {
          this.sendError('BAD_MESSAGE', `"type" must be a string (got ${describe(m.type)})`, sid);
          return;
        }
        this.sendError(
          'UNKNOWN_TYPE',
          m.type === undefined ? 'message has no "type"' : `unknown message type ${describe(m.type)}; expected stt_start, stt_stop, ping or prompt`,
          sid,
        );
    }
  }

  private onStart(m: Record<string, unknown>): void {
    let sessionId: string;
    if (m.session_id === undefined || m.session_id === null || m.session_id === '') {
      sessionId = this.id; // the seed's fallback: a start without an id gets the connection's
    } else if (typeof m.session_id !== 'string' || m.session_id.length > MAX_SESSION_ID_LENGTH) {
      this.sendError('BAD_MESSAGE', `session_id must be a string of at most ${MAX_SESSION_ID_LENGTH} characters`, this.lastSessionId);
      return;
    } else {
      sessionId = m.session_id;
    }
    const rate = m.sample_rate ?? DEFAULT_SAMPLE_RATE;
    if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE) {
      this.sendError('BAD_MESSAGE', `sample_rate must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} (got ${describe(rate)})`, sessionId);
      return;
    }
    if (this.host.shuttingDown) {
      this.sendError('SHUTTING_DOWN', 'the server is shutting down', sessionId);
      return;
    }
    if (!this.holdsSlot) {
      const refused = this.host.acquireSlot();
      if (refused) {
        this.sendError(refused.code, refused.message, sessionId);
        return;
      }
      this.holdsSlot = true;
    }
    // stt_start while listening restarts: the running cycle is stopped (its final still delivered, then
    // stt_state idle) and a new one starts.
    if (this.cycle) this.stopCycle();
    const now = performance.now();
    const cycle: Cycle = { number: ++this.cycleCount, sessionId, sampleRate: rate, backlog: [], backlogBytes: 0, utterance: 0, fedSeconds: 0, lastAudioAt: now, rateCheck: { firstAt: -1, bytes: 0 } };
    this.cycle = cycle;
    this.rearm(this.host.audioIdleTimeoutMs);
    this.cycles.add(cycle);
    this.lastSessionId = sessionId;
    this.enqueue(() => this.startCycle(cycle));
  }

  private onStop(): void {
    if (this.cycle) {
      this.stopCycle();
      return;
    }
    // Not listening: answer with the state anyway, so that a client waiting for idle after stt_stop is not stuck.
    this.enqueue(async () => {
      if (!this.cycle) this.send({ type: 'stt_state', state: 'idle', session_id: this.lastSessionId });
    });
  }

  private onPrompt(m: Record<string, unknown>): void {
    const text = [m.text, m.prompt, m.content, m.message].find((v): v is string => typeof v === 'string') ?? '';
    this.remember('user', text);
    const chat = this.host.chat;
    if (!chat || !text.trim()) return;
    const sessionId = typeof m.session_id === 'string' ? m.session_id : this.lastSessionId;
    // Replies stream one after another, on their own chain: a slow assistant never delays stt_start/stt_stop.
    this.replies = this.replies.then(() => this.reply(chat, sessionId));
  }

  private async reply(chat: ChatEndpoint, sessionId: string | null): Promise<void> {
    if (this.closed) return;
    const messages: ChatMessage[] = this.conversation.map((e) => ({ role: e.role, content: e.text }));
    let text = '';
    try {
      for await (const delta of streamChatReply(chat, messages, this.chatAbort.signal)) {
        text += delta;
        this.send({ type: 'assistant_delta', text: delta, session_id: sessionId });
      }
      this.remember('assistant', text);
      this.send({ type: 'assistant_done', text, session_id: sessionId });
    } catch (e) {
      if (this.closed) return;
      this.sendError('CHAT_FAILED', `the assistant could not answer: ${(e as Error).message}`, sessionId);
    }
  }

  private remember(role: ConversationEntry['role'], text: string): void {
    this.conversation.push({ role, text, at: Date.now() });
    if (this.conversation.length > MAX_CONVERSATION) this.conversation.splice(0, this.conversation.length - MAX_CONVERSATION);
  }

  // ---- cycles -------------------------------------------------------------------------------------------------

  private enqueue(op: () => Promise<void>): void {
    this.ops = this.ops.then(op).catch((e: unknown) => {
      this.log.error({ err: e }, 'failed');
      this.sendError('INTERNAL_ERROR', 'internal error', this.lastSessionId);
    });
  }

  private stopCycle(): void {
    const cycle = this.cycle!;
    this.cycle = undefined;
    this.notListeningReported = false;
    this.enqueue(() => this.finishCycle(cycle));
  }

  private async startCycle(cycle: Cycle): Promise<void> {
    let service: TranscriptionService;
    try {
      service = await this.host.service();
    } catch (e) {
      this.sendError('MODEL_LOAD_ERROR', `the transcription models failed to load: ${(e as Error).message}`, cycle.sessionId);
      this.abandon(cycle);
      return;
    }
    if (this.closed || !this.cycles.has(cycle)) return;
    // An odd rate's filter is built in slices meanwhile (audio waits in the backlog), not on the first frame.
    await prepareResampler(cycle.sampleRate, ASR_SAMPLE_RATE);
    if (this.closed || !this.cycles.has(cycle)) return;
    let recorder: Recorder;
    try {
      recorder = await service.createRecorder(`${this.id}#${cycle.number}`, this.host.recorderConfig);
    } catch (e) {
      this.sendError('MODEL_LOAD_ERROR', `could not set up a recorder: ${(e as Error).message}`, cycle.sessionId);
      this.abandon(cycle);
      return;
    }
    if (this.closed || !this.cycles.has(cycle)) {
      recorder.shutdown();
      return;
    }
    this.wire(recorder, cycle);
    cycle.recorder = recorder;
    this.send({ type: 'stt_listening', session_id: cycle.sessionId, sample_rate: cycle.sampleRate });
    recorder.start();
    for (const chunk of cycle.backlog) this.feed(cycle, recorder, chunk);
    cycle.backlog = [];
    cycle.backlogBytes = 0;
  }

  /** stt_stop: the utterance in progress is finished and its final delivered, then stt_state idle. */
  private async finishCycle(cycle: Cycle): Promise<void> {
    if (this.closed) return;
    const recorder = cycle.recorder;
    if (recorder) {
      try {
        await recorder.stop(); // emits stateChange idle → stt_state idle, after the last final
      } catch (e) {
        if (!this.closed) this.log.warn(`stop failed: ${(e as Error).message}`);
      }
      recorder.shutdown();
    }
    if (this.closed) return;
    // A cycle that never got a recorder (models failed to load) still answers its stop.
    if (!recorder) this.send({ type: 'stt_state', state: 'idle', session_id: cycle.sessionId });
    this.cycles.delete(cycle);
    this.releaseIfDone();
  }

  /** A cycle that could not start: forget it (a stt_stop for it still answers idle). */
  private abandon(cycle: Cycle): void {
    if (this.cycle === cycle) this.cycle = undefined;
    this.cycles.delete(cycle);
    cycle.backlog = [];
    this.releaseIfDone();
  }

  private dropCycle(cycle: Cycle): void {
    cycle.backlog = [];
    try {
      cycle.recorder?.shutdown();
    } catch (e) {
      this.log.warn(`recorder shutdown failed: ${(e as Error).message}`);
    }
  }

  private releaseIfDone(): void {
    if (this.cycles.size > 0) return;
    if (this.holdsSlot) {
      this.holdsSlot = false;
      this.host.releaseSlot();
    }
    // Not listening any more: the connection has startTimeoutMs to start again.
    if (!this.cycle && !this.closed) this.rearm(this.host.startTimeoutMs);
  }

  /**
   * One timer per connection: while listening it stops a cycle that has had no audio for audioIdleTimeoutMs; while
   * not listening (and no final pending) it closes the connection after startTimeoutMs.
   */
  private onTimer(): void {
    if (this.closed) return;
    const cycle = this.cycle;
    if (cycle) {
      const idle = performance.now() - cycle.lastAudioAt;
      if (idle < this.host.audioIdleTimeoutMs) {
        this.rearm(this.host.audioIdleTimeoutMs - idle);
        return;
      }
      this.sendError('AUDIO_IDLE_TIMEOUT', `no audio for ${Math.round(idle / 1000)} s: the session was stopped (what was said is finished first); send stt_start to listen again`, cycle.sessionId);
      this.stopCycle();
      return;
    }
    if (this.cycles.size > 0) return; // a final is still on its way; releaseIfDone re-arms afterwards
    this.sendError('START_TIMEOUT', `no stt_start within ${Math.round(this.host.startTimeoutMs / 1000)} s; closing the connection (connect again when there is audio to send)`, this.lastSessionId);
    this.ws.close(CLOSE_START_TIMEOUT, 'no stt_start in time');
    setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  private rearm(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onTimer(), Math.max(10, ms)).unref();
  }

  /**
   * A real-time client whose audio arrives at another common device rate than it declared has most likely
   * mis-declared it (the model then hears sped-up or slowed-down speech and says nothing): warn once per cycle.
   */
  private checkRate(cycle: Cycle, bytes: number): void {
    const check = cycle.rateCheck!;
    const now = performance.now();
    if (check.firstAt < 0) {
      check.firstAt = now; // the first frame's samples were sent before this moment; count from the next
      return;
    }
    check.bytes += bytes;
    const elapsed = now - check.firstAt;
    if (elapsed < RATE_CHECK_MS) return;
    cycle.rateCheck = undefined;
    const observed = check.bytes / 2 / (elapsed / 1000);
    const near = COMMON_RATES.find((r) => Math.abs(observed - r) <= r * 0.03);
    if (near === undefined || Math.abs(near - cycle.sampleRate) <= cycle.sampleRate * 0.1) return;
    this.host.metrics.errors.inc({ code: 'SAMPLE_RATE_MISMATCH' });
    this.send({
      type: 'stt_error',
      code: 'SAMPLE_RATE_MISMATCH',
      error: `audio arrives at about ${near} samples/s but stt_start declared sample_rate ${cycle.sampleRate}: if the audio is really at ${near} Hz, declare that (a warning; the session goes on)`,
      session_id: cycle.sessionId,
    });
  }

  /** Recorder events → protocol messages, each with the client's session_id. */
  private wire(recorder: Recorder, cycle: Cycle): void {
    const sid = cycle.sessionId;
    const metrics = this.host.metrics;
    recorder.on('stateChange', (state) => this.send({ type: 'stt_state', state, session_id: sid }));
    recorder.on('vadStart', () => this.send({ type: 'stt_vad_start', session_id: sid }));
    recorder.on('vadStop', () => this.send({ type: 'stt_vad_stop', session_id: sid }));
    recorder.on('recordingStart', (span) => {
      cycle.utterance = span.utterance;
      cycle.awaitingFirstPartialSince = performance.now();
      this.send({ type: 'stt_recording_start', session_id: sid, utterance: span.utterance, start: round3(span.start) });
    });
    recorder.on('recordingStop', (span) => {
      metrics.utterances.inc();
      this.send({ type: 'stt_recording_stop', session_id: sid, utterance: span.utterance, start: round3(span.start), end: round3(span.end) });
    });
    recorder.on('realtimeUpdate', (text) => {
      metrics.partials.inc();
      if (cycle.awaitingFirstPartialSince !== undefined) {
        metrics.firstPartialLatency.observe((performance.now() - cycle.awaitingFirstPartialSince) / 1000);
        cycle.awaitingFirstPartialSince = undefined;
      }
      this.send({ type: 'stt_update', text, session_id: sid, utterance: cycle.utterance });
    });
    recorder.on('realtimeStabilized', (text) => this.send({ type: 'stt_stabilized', text, session_id: sid, utterance: cycle.utterance }));
    recorder.on('transcriptionFinished', (f) => {
      metrics.finals.inc();
      metrics.finalLatency.observe(f.latencyMs / 1000);
      this.send({
        type: 'stt_final',
        text: f.text,
        session_id: sid,
        utterance: f.utterance,
        start: round3(f.start),
        end: round3(f.end),
        latency_ms: Math.round(f.latencyMs),
        processing_ms: Math.round(f.processingMs),
        model: f.model,
      });
      if (this.drainTimer) this.closeForRestart();
    });
    recorder.on('utteranceDiscarded', (d) => {
      metrics.discarded.inc({ reason: d.reason });
      this.send({ type: 'stt_discarded', session_id: sid, utterance: d.utterance, reason: d.reason, start: round3(d.start), end: round3(d.end) });
      if (this.drainTimer) this.closeForRestart();
    });
    recorder.on('error', (e) => {
      this.sendError(e.code, e.message, sid, e.utterance);
    });
  }

  // ---- output -------------------------------------------------------------------------------------------------

  private sendError(code: ErrorCode, error: string, sessionId: string | null, utterance?: number): void {
    this.host.metrics.errors.inc({ code });
    const msg: ServerMessage = { type: 'stt_error', error, code, session_id: sessionId };
    if (utterance !== undefined) msg.utterance = utterance;
    this.send(msg);
  }

  /**
   * Bounded send buffer: above the soft limit partials (stt_update, stt_stabilized) are dropped, since a newer one
   * supersedes them; above the hard limit the client is not reading at all and is disconnected with 1008.
   */
  private send(msg: ServerMessage): void {
    if (this.closed || this.cutting || this.ws.readyState !== OPEN) return;
    const buffered = this.ws.bufferedAmount;
    if (buffered > this.host.sendHardLimitBytes) {
      this.cutting = true;
      this.log.warn(`client not reading (${buffered} bytes queued); closing`);
      this.host.metrics.errors.inc({ code: 'SLOW_CONSUMER' });
      this.ws.close(1008, 'client is not reading its messages');
      setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS).unref();
      return;
    }
    if (buffered > this.host.sendSoftLimitBytes && DROPPABLE_TYPES.has(msg.type)) {
      this.host.metrics.droppedMessages.inc();
      return;
    }
    this.ws.send(JSON.stringify(msg));
  }
}

/** A client's value in an error message: short, and safe for any depth of nesting (JSON.stringify is not). */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (value === null || typeof value !== 'object') return String(value);
  return 'an object';
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
