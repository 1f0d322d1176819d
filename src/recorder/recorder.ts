import type { BiasPhrase } from '../asr/context-graph.ts';
import { EventEmitter } from 'node:events';
import { AdaptiveGain } from '../audio/adaptive-gain.ts';
import { SampleBuffer } from '../audio/sample-buffer.ts';
import { ASR_SAMPLE_RATE } from '../asr/engine.ts';
import type { ScheduledSession, SessionTranscriber } from '../asr/scheduler-session.ts';
import type { VadWindow, VoiceActivityDetector } from '../vad/voice-activity-detector.ts';
import { AudioInput } from './audio-input.ts';
import { FinalPlanner, type DiscardReason, type FinalTranscript, type RecorderError } from './final-planner.ts';
import { PartialPlanner } from './partial-planner.ts';
import { resolveRecorderConfig, type RecorderConfig } from './recorder-config.ts';
import { Segmenter, type Utterance, type UtteranceSpan } from './segmenter.ts';

export type { DiscardReason, FinalTranscript, RecorderError } from './final-planner.ts';
export type { UtteranceSpan } from './segmenter.ts';

export type RecorderState = 'idle' | 'listening' | 'recording' | 'transcribing';

/** What the recorder needs from voice activity detection: verdicts on consecutive windows, in order. */
export type WindowClassifier = Pick<VoiceActivityDetector, 'windowSamples' | 'process' | 'reset' | 'dispose'>;

/** Connects a recorder to inference: the scheduler's handle for the session the recorder answers for. */
export type ConnectTranscriber = (session: ScheduledSession) => SessionTranscriber;

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
  /** Speech was heard but stays too quiet even at the most gain allowed (once per start..stop). */
  inputTooQuiet: [level: { gainDb: number }];
}

/**
 * One speaker's audio in, events out: the seed's AudioToTextRecorder, in stages: input (decoding, resampling), VAD,
 * segmenter (utterances), partial planner and final planner. Audio is framed into VAD windows and processed strictly
 * in order on a promise chain, so feedAudio() never blocks; inference goes through the shared scheduler.
 */
export class Recorder extends EventEmitter<RecorderEvents> {
  readonly config: RecorderConfig;
  private stateValue: RecorderState = 'idle';
  private readonly input = new AudioInput();
  private readonly pending = new SampleBuffer();
  /** Levels each window before the VAD and the models hear it; absent when config.agc is off. */
  private readonly gain?: AdaptiveGain;
  private readonly window: Float32Array;
  private readonly transcriber: SessionTranscriber;
  private readonly segmenter: Segmenter;
  private readonly partials: PartialPlanner;
  private readonly finals: FinalPlanner;
  private pumping?: Promise<void>;
  private closed = false;
  private keyterms: BiasPhrase[] = [];

  constructor(
    private readonly vad: WindowClassifier,
    connect: ConnectTranscriber,
    config: Partial<RecorderConfig> = {},
  ) {
    super();
    this.transcriber = connect({
      receivedSeconds: () => this.receivedTime,
      screen: () => this.partials.screen,
      partialInput: () => this.partials.read(),
      keyterms: () => (this.keyterms.length ? this.keyterms : undefined),
    });
    this.config = resolveRecorderConfig(config, this.transcriber.maxAudioSeconds);
    this.window = new Float32Array(vad.windowSamples);
    if (this.config.agc) this.gain = new AdaptiveGain();
    this.segmenter = new Segmenter(vad.windowSamples, this.config, {
      utteranceStarted: (u, cut) => this.utteranceStarted(u, cut),
      speechResumed: () => {
        this.finals.withdraw();
        this.emit('vadStart');
      },
      speechPaused: (u) => {
        this.emit('vadStop');
        this.finals.speculate(u, this.segmenter.now);
      },
      spoken: (u) => {
        if (this.config.enableRealtimeTranscription) this.partials.spoken(u, this.segmenter.now);
      },
      utteranceEnded: (u, end) => this.utteranceEnded(u, end),
    });
    this.partials = new PartialPlanner(this.segmenter, this.transcriber, this.config.realtimeProcessingPause, vad.windowSamples, {
      update: (text) => this.emit('realtimeUpdate', text),
      stabilized: (text) => this.emit('realtimeStabilized', text),
    });
    this.finals = new FinalPlanner(this.transcriber, {
      finished: (final) => this.emit('transcriptionFinished', final),
      discarded: (span) => this.emit('utteranceDiscarded', span),
      failed: (error) => this.fail(error),
      settled: () => {
        if (this.stateValue === 'transcribing') this.setState('listening');
      },
    });
  }

  /** Decodes from now on toward these keyterm spellings (keyterms.ts); [] for none. */
  setKeyterms(keyterms: BiasPhrase[]): void {
    this.keyterms = keyterms;
  }

  get state(): RecorderState {
    return this.stateValue;
  }

  private get active(): boolean {
    return !this.closed && this.stateValue !== 'idle';
  }

  /** The input gain in dB applied to the latest window (0 when off or not yet measured). */
  get inputGainDb(): number {
    return this.gain?.gainDb ?? 0;
  }

  /** Seconds of audio fed so far (16 kHz clock). */
  get time(): number {
    return this.segmenter.now / ASR_SAMPLE_RATE;
  }

  /** Seconds of audio received so far, whether or not the VAD has been through it yet (fair share measures this). */
  get receivedTime(): number {
    return (this.segmenter.now + this.pending.length) / ASR_SAMPLE_RATE;
  }

  start(): void {
    if (this.closed) throw new Error('recorder is shut down');
    if (this.stateValue === 'idle') this.setState('listening');
  }

  /** Audio in (see AudioInput): PCM16 bytes or float samples at any sample rate. Ignored (returns false) while idle. */
  feedAudio(chunk: Uint8Array | Float32Array, sampleRate = ASR_SAMPLE_RATE): boolean {
    if (this.stateValue === 'idle' || this.closed) return false;
    this.pending.append(this.input.push(chunk, sampleRate));
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
    this.pending.append(this.input.flush());
    // Pad the last partial window with silence so that no fed sample is left out.
    const partialWindow = this.pending.length % this.window.length;
    if (partialWindow > 0) this.pending.append(new Float32Array(this.window.length - partialWindow));
    this.kick();
    await this.drain();
    this.segmenter.finish();
    await this.finals.delivered;
    if (this.closed) return; // shut down meanwhile: nothing left to reset
    this.resetStream();
    this.setState('idle');
  }

  /** Drops everything in progress, finals included, and goes idle at once. */
  abort(): void {
    this.transcriber.cancel();
    this.finals.abort();
    this.segmenter.drop();
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
    this.input.reset();
    this.segmenter.reset();
    this.vad.reset();
    this.gain?.reset();
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
      if (this.gain) this.level(this.gain);
      let verdicts: VadWindow[];
      try {
        verdicts = await this.vad.process(this.window);
      } catch (e) {
        this.fail({ code: 'VAD_FAILED', message: `voice activity detection failed: ${(e as Error).message}` });
        continue;
      }
      if (!this.active) break;
      for (const verdict of verdicts) this.segmenter.push(this.window, verdict);
    }
  }

  /**
   * The gain stage, on the window the VAD is about to hear (the recorder's own copy: the input stage may hand back the
   * caller's samples). When the gain starts or falls at once, the audio the segmenter already holds follows.
   */
  private level(gain: AdaptiveGain): void {
    const quiet = gain.tooQuiet;
    const held = gain.process(this.window);
    if (held !== 0) this.segmenter.gainHeld(held);
    if (!quiet && gain.tooQuiet) this.emit('inputTooQuiet', { gainDb: gain.gainDb });
  }

  private utteranceStarted(u: Utterance, cut: boolean): void {
    this.partials.started(u);
    if (!cut) this.emit('vadStart');
    this.setState('recording');
    this.emit('recordingStart', u.span(this.segmenter.now));
  }

  /** The utterance ended at stream sample `end`: its final is queued for in-order delivery. */
  private utteranceEnded(u: Utterance, end: number): void {
    const decidedAt = performance.now();
    const span = u.span(u.finalEnd(end));
    if (u.speaking) this.emit('vadStop');
    this.emit('recordingStop', span);
    this.setState('transcribing');
    this.finals.finish(u, span, end, decidedAt);
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
