import { EventEmitter } from 'node:events';
import { Pcm16Stream } from '../audio/pcm.ts';
import { RingBuffer } from '../audio/ring-buffer.ts';
import { SampleBuffer } from '../audio/sample-buffer.ts';
import { StreamingResampler } from '../audio/resample.ts';
import { ASR_SAMPLE_RATE, type Transcript } from '../asr/engine.ts';
import type { JobInput, SessionTranscriber } from '../asr/scheduler.ts';
import type { VadWindow, VoiceActivityDetector } from '../vad/voice-activity-detector.ts';
import { guardPartial, reviewFinal, type GuardVerdict, type SpeechEvidence } from './hallucination-guard.ts';
import { resolveRecorderConfig, type RecorderConfig } from './recorder-config.ts';
import { OnsetHistory } from './onset.ts';
import { PrefixAgreement } from './agreed-prefix.ts';
import { splitWords } from '../asr/words.ts';
import { Stabilizer } from './stabilizer.ts';

export type RecorderState = 'idle' | 'listening' | 'recording' | 'transcribing';

/** What the recorder needs from voice activity detection: verdicts on consecutive windows, in order. */
export type WindowClassifier = Pick<VoiceActivityDetector, 'windowSamples' | 'process' | 'reset' | 'dispose'>;

export interface UtteranceSpan {
  /** 1-based number of the utterance within this recorder's life. */
  utterance: number;
  /** Seconds since the first sample fed (speech onset, without the pre-roll). */
  start: number;
  end: number;
}

export interface FinalTranscript extends UtteranceSpan {
  text: string;
  /** The model that transcribed it. */
  model: string;
  /** Engine time of the final job. */
  processingMs: number;
  /** Wall time from the end-of-speech decision (recordingStop) to this final. */
  latencyMs: number;
  /** The final was computed speculatively when silence began and was still valid at the decision. */
  speculative: boolean;
  /** What the hallucination guard found: no repetition, a repetition the audio holds (kept), or a decoder loop (cut). */
  guard: GuardVerdict;
  /** Set where the final model is cross-checked by another (src/asr/cross-check-engine.ts). */
  crossCheck?: Transcript['crossCheck'];
}

export type DiscardReason = 'too_short' | 'no_text';

export interface RecorderError {
  code: 'PROCESSING_TIMEOUT' | 'TRANSCRIPTION_FAILED' | 'VAD_FAILED';
  message: string;
  utterance?: number;
}

export interface RecorderEvents {
  stateChange: [state: RecorderState];
  vadStart: [];
  vadStop: [];
  recordingStart: [span: UtteranceSpan];
  recordingStop: [span: UtteranceSpan];
  realtimeUpdate: [text: string];
  realtimeStabilized: [text: string];
  transcriptionFinished: [final: FinalTranscript];
  /** An utterance that reached recordingStop but carries no speech: no final follows. */
  utteranceDiscarded: [span: UtteranceSpan & { reason: DiscardReason }];
  error: [error: RecorderError];
}

/** Voiced windows an onset needs in a row (2 × 32 ms): single clicks do not start a recording. */
const ONSET_WINDOWS = 2;
/** An utterance with less voiced audio than this is a noise burst, not speech. */
const MIN_VOICED_SECONDS = 0.2;
/** Audio kept after the last voiced window: the VAD's verdict lags the end of the word a little. */
const TAIL_SECONDS = 0.2;
/**
 * Pre-roll the models get before the onset. The recorder keeps preRecordingBufferDuration, but Moonshine returns
 * nothing for short phrases behind a second of silence (measured: "five five" is lost with ≥ 0.6 s of lead-in;
 * base WER on the fixtures goes from 2.6 % at 0.2 s to 4.3 % at 0.3 s), so the model sees 0.2 s before the trigger,
 * or from a little before the real onset when the speech began softly before it (onset.ts).
 */
const LEAD_IN_SECONDS = 0.2;
/** Audio kept before a walked-back onset. */
const ONSET_MARGIN_SECONDS = 0.1;
/** How far before the trigger an onset may be found: further back is the tail of something else. */
const MAX_ONSET_WALK_SECONDS = 0.6;
/**
 * Partials continue the tokens they agree on with one made this much audio earlier (agreed-prefix.ts). The 12
 * fixtures asked every 0.13 s, text of each one's last partial: WER 1.7 % decoded afresh each time, 3.4 % agreeing
 * with the partial just before (or 0.5 s earlier), 1.7 % at 1 s; decoding 22 → 15 ms per partial.
 */
const AGREEMENT_SPAN_SECONDS = 1;
/** Speech needed before the first partial: less gives the small model nothing to say. */
const FIRST_PARTIAL_SECONDS = 0.2;
/** Where a too-long utterance may be cut: its quietest window within this many seconds of the end. */
const CUT_SEARCH_SECONDS = 3;
/**
 * Partials read at most about this much audio. Re-reading a whole growing utterance for every partial costs the
 * square of its length; beyond this, the audio up to a recent pause is transcribed once and its text kept, and
 * partials read only what follows (the final still reads everything, with the big model).
 */
const PARTIAL_WINDOW_SECONDS = 8;
/** A kept part ends at the quietest window of the last this-many seconds of the window. */
const KEEP_SEARCH_SECONDS = 3;
/**
 * Silence after the audio of an utterance's partials while nothing is on screen: cut off in mid-word, the first half
 * second or so of speech often gets no text from Moonshine (the fixtures' 11 utterances, asked every 0.13 s: base
 * said nothing to 4 first asks without it, to 1 with it; tiny needed 15 empty asks in all without, 13 with).
 */
const BLANK_TAIL_SECONDS = 0.2;

type GuardedTranscript = Transcript & { guard: GuardVerdict };

interface Utterance {
  id: number;
  audio: SampleBuffer;
  /** Stream sample index of audio[0] (the pre-roll's first sample). */
  firstSample: number;
  onsetSample: number;
  /** Stream sample index of the first sample the models hear. */
  leadInSample: number;
  /** Stream sample index just after the last voiced window. */
  lastVoicedSample: number;
  voicedWindows: number;
  silentWindows: number;
  /** Stream sample index where windowLevels[0] starts (the windows after the onset). */
  windowsStart: number;
  /** Level (dBFS) of each window of the utterance, to find a quiet place to cut. */
  windowLevels: number[];
  /** The VAD's verdict on each of those windows: the guard's measure of how much speech there is. */
  windowVoiced: boolean[];
  partialPending: boolean;
  lastPartialSample: number;
  lastPartialText: string;
  /** Partials read from this stream sample on; the text of the audio before it is `keptText`. */
  partialFrom: number;
  keptText: string;
  /** What partials read from `partialFrom` agree on: the next one's text continues it. */
  agreement: PrefixAgreement;
  stabilizer: Stabilizer;
  speculative?: { controller: AbortController; endSample: number; result: Promise<GuardedTranscript> };
  vadActive: boolean;
}

/**
 * One speaker's audio in, events out: the seed's AudioToTextRecorder. Audio is framed into VAD windows and processed
 * strictly in order on a promise chain, so feedAudio() never blocks; inference goes through the shared scheduler.
 */
export class Recorder extends EventEmitter<RecorderEvents> {
  readonly config: RecorderConfig;
  private stateValue: RecorderState = 'idle';
  private readonly pcm = new Pcm16Stream();
  private resampler?: StreamingResampler;
  private readonly pending = new SampleBuffer();
  private readonly window: Float32Array;
  private readonly preRoll: RingBuffer;
  private readonly onsets: OnsetHistory;
  /**
   * realtimeProcessingPause in whole VAD windows, rounded: audio arrives a window at a time, and 0.1 s against 32 ms
   * windows would otherwise wait 4 windows (128 ms), or a whole 100 ms network frame more.
   */
  private readonly partialPauseSamples: number;
  private processedSamples = 0;
  private onsetRun = 0;
  private utterance?: Utterance;
  private utteranceCount = 0;
  private pumping?: Promise<void>;
  /** Finals are delivered in utterance order even when a later one finishes first. */
  private deliveries: Promise<void> = Promise.resolve();
  private inFlightFinals = 0;
  /** Bumped by abort(): deliveries queued before it are dropped. */
  private generation = 0;
  private closed = false;

  constructor(
    private readonly vad: WindowClassifier,
    private readonly transcriber: SessionTranscriber,
    config: Partial<RecorderConfig> = {},
  ) {
    super();
    this.config = resolveRecorderConfig(config);
    this.window = new Float32Array(vad.windowSamples);
    this.preRoll = new RingBuffer(Math.max(vad.windowSamples, Math.round(this.config.preRecordingBufferDuration * ASR_SAMPLE_RATE)));
    this.onsets = new OnsetHistory(Math.ceil(this.preRoll.capacity / vad.windowSamples));
    this.partialPauseSamples = Math.max(1, Math.round((this.config.realtimeProcessingPause * ASR_SAMPLE_RATE) / vad.windowSamples)) * vad.windowSamples;
  }

  get state(): RecorderState {
    return this.stateValue;
  }

  private get active(): boolean {
    return !this.closed && this.stateValue !== 'idle';
  }

  /** Seconds of audio fed so far (16 kHz clock). */
  get time(): number {
    return this.processedSamples / ASR_SAMPLE_RATE;
  }

  /** Seconds of audio received so far, whether or not the VAD has been through it yet (fair share measures this). */
  get receivedTime(): number {
    return (this.processedSamples + this.pending.length) / ASR_SAMPLE_RATE;
  }

  start(): void {
    if (this.closed) throw new Error('recorder is shut down');
    if (this.stateValue === 'idle') this.setState('listening');
  }

  /**
   * Audio in: PCM16 little-endian bytes (any chunk size; an odd byte waits for the next chunk) or float samples,
   * at any sample rate. Ignored (returns false) while idle.
   */
  feedAudio(chunk: Uint8Array | Float32Array, sampleRate = ASR_SAMPLE_RATE): boolean {
    if (this.stateValue === 'idle' || this.closed) return false;
    const samples = chunk instanceof Float32Array ? chunk : this.pcm.push(chunk);
    this.pending.append(this.resample(samples, sampleRate));
    this.kick();
    return true;
  }

  /** Resolves once all audio fed so far has been through the VAD. */
  async drain(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  /**
   * Stops listening but keeps what was said: the utterance in progress is finished and its final delivered before
   * this resolves; then the state is idle.
   */
  async stop(): Promise<void> {
    if (this.stateValue === 'idle') return;
    if (this.resampler) this.pending.append(this.resampler.flush());
    this.resampler = undefined;
    // Pad the last partial window with silence so that no fed sample is left out.
    const partialWindow = this.pending.length % this.window.length;
    if (partialWindow > 0) this.pending.append(new Float32Array(this.window.length - partialWindow));
    this.kick();
    await this.drain();
    if (this.utterance) this.finishUtterance(this.utterance, this.processedSamples);
    await this.deliveries;
    if (this.closed) return; // shut down meanwhile: nothing left to reset
    this.resetStream();
    this.setState('idle');
  }

  /** Drops everything in progress, finals included, and goes idle at once. */
  abort(): void {
    this.generation++;
    this.transcriber.cancel();
    if (this.utterance?.speculative) this.utterance.speculative.controller.abort();
    this.utterance = undefined;
    this.resetStream();
    if (this.stateValue !== 'idle') this.setState('idle');
  }

  /** Aborts and frees the VAD; never waits on inference. */
  shutdown(): void {
    if (this.closed) return;
    this.abort();
    this.closed = true;
    this.vad.dispose();
    this.removeAllListeners();
  }

  private resetStream(): void {
    this.pending.clear();
    this.resampler = undefined;
    this.pcm.reset();
    this.preRoll.clear();
    this.onsets.clear();
    this.vad.reset();
    this.onsetRun = 0;
  }

  private resample(samples: Float32Array, rate: number): Float32Array {
    if (rate === ASR_SAMPLE_RATE && !this.resampler) return samples;
    if (!this.resampler || this.resampler.fromRate !== rate) {
      const tail = this.resampler?.flush();
      this.resampler = rate === ASR_SAMPLE_RATE ? undefined : new StreamingResampler(rate, ASR_SAMPLE_RATE);
      if (tail?.length) this.pending.append(tail);
      if (!this.resampler) return samples;
    }
    return this.resampler.process(samples);
  }

  /**
   * Starts the pump unless it runs. `pumping` is cleared in a .finally() (always a later microtask), not inside pump():
   * a pump() with nothing to do returns synchronously, and clearing inside it would run before `pumping` is assigned,
   * leaving a settled promise there for good (no audio processed again, and drain() spinning forever).
   */
  private kick(): void {
    this.pumping ??= this.pump().finally(() => {
      this.pumping = undefined;
    });
  }

  private async pump(): Promise<void> {
    while (this.pending.length >= this.window.length && this.active) {
      this.pending.shiftInto(this.window);
      let verdicts: VadWindow[];
      try {
        verdicts = await this.vad.process(this.window);
      } catch (e) {
        this.fail({ code: 'VAD_FAILED', message: `voice activity detection failed: ${(e as Error).message}` });
        continue;
      }
      if (!this.active) break;
      for (const verdict of verdicts) this.handleWindow(verdict);
    }
  }

  private handleWindow({ speech, energyDb, probability }: VadWindow): void {
    const size = this.window.length;
    this.processedSamples += size;
    const now = this.processedSamples;
    const u = this.utterance;
    if (!u) {
      this.preRoll.write(this.window);
      this.onsets.push(energyDb, probability);
      this.onsetRun = speech ? this.onsetRun + 1 : 0;
      if (this.onsetRun >= ONSET_WINDOWS) this.beginUtterance(now);
      return;
    }
    u.audio.append(this.window);
    u.windowLevels.push(energyDb);
    u.windowVoiced.push(speech);
    if (speech) {
      u.voicedWindows++;
      u.silentWindows = 0;
      u.lastVoicedSample = now;
      if (u.speculative) {
        // Speech resumed: the speculative final covered too little audio.
        u.speculative.controller.abort();
        u.speculative = undefined;
      }
      if (!u.vadActive) {
        u.vadActive = true;
        this.emit('vadStart');
      }
    } else {
      u.silentWindows++;
    }
    const silence = (u.silentWindows * size) / ASR_SAMPLE_RATE;
    const age = (now - u.onsetSample) / ASR_SAMPLE_RATE;
    // Once the tail is in, the final's audio is complete unless speech resumes: start it now, speculatively, so the
    // rest of postSpeechSilenceDuration hides its latency.
    if (silence >= TAIL_SECONDS && !u.speculative && u.vadActive) {
      u.vadActive = false;
      this.emit('vadStop');
      this.startSpeculative(u);
    }
    if (silence >= this.config.postSpeechSilenceDuration && age >= this.config.minLengthOfRecording) {
      this.finishUtterance(u, now);
    } else if ((now - u.firstSample) / ASR_SAMPLE_RATE >= this.config.maxUtteranceSeconds) {
      this.cutUtterance(u);
    } else if (this.config.enableRealtimeTranscription && !u.partialPending && u.silentWindows === 0) {
      this.maybePartial(u, now);
    }
  }

  private beginUtterance(now: number, carried?: Float32Array): void {
    const audio = new SampleBuffer(ASR_SAMPLE_RATE * 4);
    audio.append(carried ?? this.preRoll.readAll());
    this.preRoll.clear();
    const size = this.window.length;
    const walked = carried ? 0 : this.onsets.onsetWindows(ONSET_WINDOWS, Math.round((MAX_ONSET_WALK_SECONDS * ASR_SAMPLE_RATE) / size));
    this.onsets.clear();
    const firstSample = now - audio.length;
    const trigger = now - ONSET_WINDOWS * size;
    const onsetSample = carried ? firstSample : trigger - walked * size;
    const leadInSample = carried
      ? firstSample
      : Math.max(firstSample, Math.min(trigger - Math.round(LEAD_IN_SECONDS * ASR_SAMPLE_RATE), onsetSample - Math.round(ONSET_MARGIN_SECONDS * ASR_SAMPLE_RATE)));
    this.utterance = {
      id: ++this.utteranceCount,
      audio,
      firstSample,
      onsetSample,
      leadInSample,
      lastVoicedSample: now,
      voicedWindows: carried ? Math.floor(carried.length / this.window.length) : ONSET_WINDOWS,
      silentWindows: 0,
      windowsStart: now,
      windowLevels: [],
      windowVoiced: [],
      partialPending: false,
      lastPartialSample: 0,
      lastPartialText: '',
      partialFrom: leadInSample,
      keptText: '',
      agreement: new PrefixAgreement(AGREEMENT_SPAN_SECONDS * ASR_SAMPLE_RATE),
      stabilizer: new Stabilizer(),
      vadActive: true,
    };
    if (!carried) this.emit('vadStart');
    this.setState('recording');
    this.emit('recordingStart', this.span(this.utterance, now));
  }

  private span(u: Utterance, end: number): UtteranceSpan {
    return { utterance: u.id, start: u.onsetSample / ASR_SAMPLE_RATE, end: end / ASR_SAMPLE_RATE };
  }

  /** What the models hear: lead-in to `endSample` (a stream index), copied since jobs may outlive the buffer. */
  private audioUntil(u: Utterance, endSample: number): Float32Array {
    return u.audio.view(this.leadInIndex(u), Math.min(u.audio.length, endSample - u.firstSample)).slice();
  }

  /** Index in u.audio of the first sample the models hear. */
  private leadInIndex(u: Utterance): number {
    return u.leadInSample - u.firstSample;
  }

  /** The final of the audio up to `endSample`, through the hallucination guard (which may decode part of it again). */
  private guardedFinal(u: Utterance, endSample: number, signal?: AbortSignal): Promise<GuardedTranscript> {
    const size = this.window.length;
    const windows = Math.max(0, Math.floor((endSample - u.windowsStart) / size));
    const evidence: SpeechEvidence = {
      audio: this.audioUntil(u, endSample),
      windowSamples: size,
      windowsFrom: u.windowsStart - u.firstSample - this.leadInIndex(u),
      voiced: u.windowVoiced.slice(0, windows),
      levels: u.windowLevels.slice(0, windows),
    };
    const decode = (samples: Float32Array) => this.transcriber.final(samples, signal);
    return decode(evidence.audio).then(async (t) => {
      const { text, guard, redecodeMs } = await reviewFinal(t.text, evidence, decode);
      return { ...t, text, guard, processingMs: t.processingMs + redecodeMs };
    });
  }

  /** Where the final's audio ends: the last voiced window plus a short tail, or now if still speaking. */
  private finalEnd(u: Utterance, now: number): number {
    return Math.min(now, u.lastVoicedSample + Math.round(TAIL_SECONDS * ASR_SAMPLE_RATE));
  }

  private startSpeculative(u: Utterance): void {
    if (u.voicedWindows * this.window.length < MIN_VOICED_SECONDS * ASR_SAMPLE_RATE) return;
    const endSample = this.finalEnd(u, this.processedSamples);
    const controller = new AbortController();
    const result = this.guardedFinal(u, endSample, controller.signal);
    result.catch(() => {}); // an abandoned speculation is not an error; the real one is awaited where it is used
    u.speculative = { controller, endSample, result };
  }

  private maybePartial(u: Utterance, now: number): void {
    const voiced = (u.voicedWindows * this.window.length) / ASR_SAMPLE_RATE;
    if (now - u.lastPartialSample < this.partialPauseSamples || voiced < FIRST_PARTIAL_SECONDS) return;
    u.partialPending = true;
    u.lastPartialSample = now;
    let keep: number | undefined;
    let readEnd = 0;
    let speechSeconds = 0;
    // Read when the job starts (under load it waits): the audio up to then, nothing once the utterance has ended.
    const read = (): JobInput | undefined => {
      if (this.utterance !== u) return undefined;
      const end = this.processedSamples;
      // Too long to re-read: transcribe up to a pause near the window's end once and keep its text (the screen shows
      // the last partial meanwhile); otherwise read from there to now. Either way no partial reads more than the window.
      const windowEnd = u.partialFrom + PARTIAL_WINDOW_SECONDS * ASR_SAMPLE_RATE;
      keep = end > windowEnd ? this.quietestSample(u, windowEnd - KEEP_SEARCH_SECONDS * ASR_SAMPLE_RATE, windowEnd) : undefined;
      const from = u.partialFrom;
      readEnd = keep ?? end;
      speechSeconds = (readEnd - Math.max(from, u.onsetSample)) / ASR_SAMPLE_RATE;
      const audio = u.audio.view(from - u.firstSample, readEnd - u.firstSample);
      if (!u.lastPartialText && !u.keptText) return { samples: withSilenceAfter(audio, BLANK_TAIL_SECONDS) };
      const samples = audio.slice();
      // The part to keep ends at a pause that may come before words the agreed tokens already hold.
      return keep === undefined ? { samples, prefix: u.agreement.prefix, draft: u.agreement.draft } : { samples };
    };
    this.transcriber
      .partial(read)
      .then((t) => {
        u.partialPending = false;
        if (!t || this.utterance !== u) return; // superseded, or the utterance already ended
        const read = guardPartial(t.text, speechSeconds);
        if (keep !== undefined) {
          u.keptText = joinText(u.keptText, read);
          u.partialFrom = keep;
          u.agreement.reset();
          return;
        }
        // A repaired loop is no text to continue from.
        if (t.tokens && read === splitWords(t.text).join(' ')) u.agreement.push(readEnd, t.tokens);
        else u.agreement.reset();
        const text = joinText(u.keptText, read);
        if (!text || text === u.lastPartialText) return;
        u.lastPartialText = text;
        this.emit('realtimeUpdate', text);
        const stable = u.stabilizer.push(text);
        if (stable) this.emit('realtimeStabilized', stable);
      })
      .catch(() => {
        u.partialPending = false;
      });
  }

  /** Stream index of the end of the quietest window of `u` that ends between stream samples `from` and `to`. */
  private quietestSample(u: Utterance, from: number, to: number): number {
    const size = this.window.length;
    const levels = u.windowLevels;
    // levels[i] covers the window ending (levels.length - i - 1) windows before now.
    const indexAt = (sample: number) => levels.length - 1 - Math.floor((this.processedSamples - sample) / size);
    const first = Math.max(0, indexAt(from));
    const last = Math.min(levels.length - 1, indexAt(to));
    let quietest = last;
    for (let i = first; i < last; i++) if (levels[i]! < levels[quietest]!) quietest = i;
    return this.processedSamples - (levels.length - quietest - 1) * size;
  }

  /** Ends the utterance at stream sample `now` and queues its final for in-order delivery. */
  private finishUtterance(u: Utterance, now: number): void {
    this.utterance = undefined;
    const decidedAt = performance.now();
    const span = this.span(u, this.finalEnd(u, now));
    if (u.vadActive) this.emit('vadStop');
    this.emit('recordingStop', span);
    this.setState('transcribing');
    if (u.voicedWindows * this.window.length < MIN_VOICED_SECONDS * ASR_SAMPLE_RATE) {
      u.speculative?.controller.abort();
      this.queueDelivery(Promise.resolve(), () => this.emit('utteranceDiscarded', { ...span, reason: 'too_short' }), u.id);
      return;
    }
    const endSample = this.finalEnd(u, now);
    const speculative = u.speculative?.endSample === endSample ? u.speculative : undefined;
    if (!speculative) u.speculative?.controller.abort();
    const job = speculative?.result ?? this.guardedFinal(u, endSample);
    this.queueDelivery(job, (t) => {
      if (!t.text) {
        this.emit('utteranceDiscarded', { ...span, reason: 'no_text' });
        return;
      }
      this.emit('transcriptionFinished', {
        ...span,
        text: t.text,
        model: t.model,
        processingMs: t.processingMs,
        latencyMs: performance.now() - decidedAt,
        speculative: Boolean(speculative),
        guard: t.guard,
        crossCheck: t.crossCheck,
      });
    }, u.id);
  }

  /** Cuts an over-long utterance at its quietest recent window; the rest carries on as the next utterance. */
  private cutUtterance(u: Utterance): void {
    const now = this.processedSamples;
    const cutSample = this.quietestSample(u, now - CUT_SEARCH_SECONDS * ASR_SAMPLE_RATE, now);
    const carried = u.audio.view(cutSample - u.firstSample).slice();
    u.lastVoicedSample = Math.min(u.lastVoicedSample, cutSample);
    this.finishUtterance(u, cutSample);
    this.beginUtterance(now, carried);
  }

  private queueDelivery<T>(job: Promise<T>, deliver: (result: T) => void, utterance: number): void {
    this.inFlightFinals++;
    const generation = this.generation;
    this.deliveries = this.deliveries.then(async () => {
      try {
        const result = await job;
        if (generation === this.generation) deliver(result);
      } catch (e) {
        if ((e as Error).name !== 'AbortError' && generation === this.generation) {
          const code = (e as { code?: string }).code === 'PROCESSING_TIMEOUT' ? 'PROCESSING_TIMEOUT' : 'TRANSCRIPTION_FAILED';
          this.fail({ code, message: `utterance ${utterance} could not be transcribed: ${(e as Error).message}`, utterance });
        }
      } finally {
        this.inFlightFinals--;
        if (this.inFlightFinals === 0 && this.stateValue === 'transcribing') this.setState('listening');
      }
    });
  }

  /** 'error' is only emitted when someone listens: an unheard EventEmitter error would throw and crash the server. */
  private fail(error: RecorderError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private setState(state: RecorderState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.emit('stateChange', state);
  }
}

/** A copy of `audio` followed by `seconds` of silence. */
function withSilenceAfter(audio: Float32Array, seconds: number): Float32Array {
  const padded = new Float32Array(audio.length + Math.round(seconds * ASR_SAMPLE_RATE));
  padded.set(audio);
  return padded;
}

/** Two pieces of transcript as one text. */
function joinText(a: string, b: string): string {
  return a && b ? `${a} ${b}` : a || b;
}
