import { gainHeld } from '../audio/adaptive-gain.ts';
import { RingBuffer } from '../audio/ring-buffer.ts';
import { SampleBuffer } from '../audio/sample-buffer.ts';
import { ASR_SAMPLE_RATE } from '../asr/engine.ts';
import type { VadWindow } from '../vad/voice-activity-detector.ts';
import { OnsetHistory } from './onset.ts';
import type { RecorderConfig } from './recorder-config.ts';

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
/** A sudden fall of the input gain is passed on to an utterance begun this recently (see gainHeld()). */
const FALL_REACH_SECONDS = 0.5;
/** Where a too-long utterance may be cut: its quietest window within this many seconds of the end. */
const CUT_SEARCH_SECONDS = 3;

export interface UtteranceSpan {
  /** 1-based number of the utterance within this recorder's life. */
  utterance: number;
  /** Seconds since the first sample fed (speech onset, without the pre-roll). */
  start: number;
  end: number;
}

/** One utterance's audio and what the VAD said of it; sample positions are indices in the recorder's 16 kHz stream. */
export class Utterance {
  /** From `firstSample` (the pre-roll's first sample) on. */
  readonly audio = new SampleBuffer(ASR_SAMPLE_RATE * 4);
  /** Just after the last voiced window. */
  lastVoicedSample: number;
  voicedWindows: number;
  silentWindows = 0;
  /** Level (dBFS) of each window after the onset (from `windowsStart`), to find a quiet place to cut. */
  readonly windowLevels: number[] = [];
  /** The VAD's verdict on each of those windows: the guard's measure of how much speech there is. */
  readonly windowVoiced: boolean[] = [];
  /** The VAD hears speech (false from the tail after the last voiced window until speech resumes). */
  speaking = true;

  constructor(
    readonly id: number,
    readonly windowSamples: number,
    readonly firstSample: number,
    readonly onsetSample: number,
    /** The first sample the models hear. */
    readonly leadInSample: number,
    readonly windowsStart: number,
    voicedWindows: number,
  ) {
    this.lastVoicedSample = windowsStart;
    this.voicedWindows = voicedWindows;
  }

  /** Enough voiced audio to be speech. */
  get hasSpeech(): boolean {
    return this.voicedWindows * this.windowSamples >= MIN_VOICED_SECONDS * ASR_SAMPLE_RATE;
  }

  span(end: number): UtteranceSpan {
    return { utterance: this.id, start: this.onsetSample / ASR_SAMPLE_RATE, end: end / ASR_SAMPLE_RATE };
  }

  /** Index in `audio` of the first sample the models hear. */
  get leadInIndex(): number {
    return this.leadInSample - this.firstSample;
  }

  /** What the models hear: lead-in to `endSample`, copied since jobs may outlive the buffer. */
  audioUntil(endSample: number): Float32Array {
    return this.audio.view(this.leadInIndex, Math.min(this.audio.length, endSample - this.firstSample)).slice();
  }

  /** Where the final's audio ends: the last voiced window plus a short tail, or `now` if still speaking. */
  finalEnd(now: number): number {
    return Math.min(now, this.lastVoicedSample + Math.round(TAIL_SECONDS * ASR_SAMPLE_RATE));
  }

  /** The end of the quietest window ending between `from` and `to`; `now` is the end of the last window. */
  quietestSample(from: number, to: number, now: number): number {
    const size = this.windowSamples;
    const levels = this.windowLevels;
    // levels[i] covers the window ending (levels.length - i - 1) windows before now.
    const indexAt = (sample: number) => levels.length - 1 - Math.floor((now - sample) / size);
    const first = Math.max(0, indexAt(from));
    const last = Math.min(levels.length - 1, indexAt(to));
    let quietest = last;
    for (let i = first; i < last; i++) if (levels[i]! < levels[quietest]!) quietest = i;
    return now - (levels.length - quietest - 1) * size;
  }
}

/** What the segmenter decides, in stream order. */
export interface SegmenterListener {
  /** An utterance began; `cut`: it carries on from one cut for length (no new onset). */
  utteranceStarted(u: Utterance, cut: boolean): void;
  /** Speech again after the tail of a pause within the utterance. */
  speechResumed(u: Utterance): void;
  /** The tail after the last voiced window is in: unless speech resumes, the utterance's audio is complete. */
  speechPaused(u: Utterance): void;
  /** A voiced window joined the utterance, which goes on. */
  spoken(u: Utterance): void;
  /** The utterance ended with stream sample `end`. */
  utteranceEnded(u: Utterance, end: number): void;
}

/**
 * VAD verdicts in, utterances out: onset (with walk-back and pre-roll), pauses, the end after enough silence, and
 * over-long utterances cut at a quiet point. No I/O: it is told each window and its verdict, in order.
 */
export class Segmenter {
  private readonly preRoll: RingBuffer;
  private readonly onsets: OnsetHistory;
  private processed = 0;
  private onsetRun = 0;
  private utterance?: Utterance;
  private count = 0;

  constructor(
    private readonly windowSamples: number,
    private readonly config: Pick<RecorderConfig, 'preRecordingBufferDuration' | 'postSpeechSilenceDuration' | 'minLengthOfRecording' | 'maxUtteranceSeconds'>,
    private readonly listener: SegmenterListener,
  ) {
    this.preRoll = new RingBuffer(Math.max(windowSamples, Math.round(config.preRecordingBufferDuration * ASR_SAMPLE_RATE)));
    this.onsets = new OnsetHistory(Math.ceil(this.preRoll.capacity / windowSamples));
  }

  /** Stream samples through the segmenter so far. */
  get now(): number {
    return this.processed;
  }

  /** The utterance in progress. */
  get current(): Utterance | undefined {
    return this.utterance;
  }

  /** One VAD window (`window`, its samples) and its verdict. */
  push(window: Float32Array, { speech, energyDb, probability }: VadWindow): void {
    const size = this.windowSamples;
    this.processed += size;
    const now = this.processed;
    const u = this.utterance;
    if (!u) {
      this.preRoll.write(window);
      this.onsets.push(energyDb, probability);
      this.onsetRun = speech ? this.onsetRun + 1 : 0;
      if (this.onsetRun >= ONSET_WINDOWS) this.begin(now);
      return;
    }
    u.audio.append(window);
    u.windowLevels.push(energyDb);
    u.windowVoiced.push(speech);
    if (speech) {
      u.voicedWindows++;
      u.silentWindows = 0;
      u.lastVoicedSample = now;
      if (!u.speaking) {
        u.speaking = true;
        this.listener.speechResumed(u);
      }
    } else {
      u.silentWindows++;
    }
    const silence = (u.silentWindows * size) / ASR_SAMPLE_RATE;
    const age = (now - u.onsetSample) / ASR_SAMPLE_RATE;
    if (silence >= TAIL_SECONDS && u.speaking) {
      u.speaking = false;
      this.listener.speechPaused(u);
    }
    if (silence >= this.config.postSpeechSilenceDuration && age >= this.config.minLengthOfRecording) {
      this.end(u, now);
    } else if ((now - u.firstSample) / ASR_SAMPLE_RATE >= this.config.maxUtteranceSeconds) {
      this.cut(u);
    } else if (u.silentWindows === 0) {
      this.listener.spoken(u);
    }
  }

  /** Ends the utterance in progress, if any, with the audio so far (the stream stops). */
  finish(): void {
    if (this.utterance) this.end(this.utterance, this.processed);
  }

  /** Forgets the utterance in progress without ending it (aborted). */
  drop(): void {
    this.utterance = undefined;
  }

  /**
   * The input gain changed at once (src/audio/adaptive-gain.ts): the audio held so far follows. A fall (a much louder
   * talker) reaches an utterance only when it began within FALL_REACH_SECONDS: that one is the louder talker's, whose
   * soft first syllables were raised for the quieter one; an older one holds the quieter talker's words.
   */
  gainHeld(gainDb: number): void {
    gainHeld(this.preRoll.held(), gainDb);
    this.onsets.gained(gainDb);
    const u = this.utterance;
    if (u && (gainDb > 0 || this.processed - u.onsetSample <= FALL_REACH_SECONDS * ASR_SAMPLE_RATE)) gainHeld(u.audio.view(), gainDb);
  }

  /** Forgets the audio before any onset (a new stream). */
  reset(): void {
    this.preRoll.clear();
    this.onsets.clear();
    this.onsetRun = 0;
  }

  private begin(now: number, carried?: Float32Array): void {
    const size = this.windowSamples;
    const head = carried ?? this.preRoll.readAll();
    this.preRoll.clear();
    const walked = carried ? 0 : this.onsets.onsetWindows(ONSET_WINDOWS, Math.round((MAX_ONSET_WALK_SECONDS * ASR_SAMPLE_RATE) / size));
    this.onsets.clear();
    const firstSample = now - head.length;
    const trigger = now - ONSET_WINDOWS * size;
    const onsetSample = carried ? firstSample : trigger - walked * size;
    const leadInSample = carried
      ? firstSample
      : Math.max(firstSample, Math.min(trigger - Math.round(LEAD_IN_SECONDS * ASR_SAMPLE_RATE), onsetSample - Math.round(ONSET_MARGIN_SECONDS * ASR_SAMPLE_RATE)));
    const voiced = carried ? Math.floor(carried.length / size) : ONSET_WINDOWS;
    const u = new Utterance(++this.count, size, firstSample, onsetSample, leadInSample, now, voiced);
    u.audio.append(head);
    this.utterance = u;
    this.listener.utteranceStarted(u, Boolean(carried));
  }

  private end(u: Utterance, end: number): void {
    this.utterance = undefined;
    this.listener.utteranceEnded(u, end);
  }

  /** Cuts an over-long utterance at its quietest recent window; the rest carries on as the next utterance. */
  private cut(u: Utterance): void {
    const now = this.processed;
    const cutSample = u.quietestSample(now - CUT_SEARCH_SECONDS * ASR_SAMPLE_RATE, now, now);
    const carried = u.audio.view(cutSample - u.firstSample).slice();
    u.lastVoicedSample = Math.min(u.lastVoicedSample, cutSample);
    this.end(u, cutSample);
    this.begin(now, carried);
  }
}
