import { randomUUID } from 'node:crypto';
import type { BiasPhrase } from '../asr/context-graph.ts';
import { ASR_SAMPLE_RATE } from '../asr/engine.ts';
import type { FinalTranscript, Recorder, RecorderError } from '../recorder/recorder.ts';
import type { RecorderConfig } from '../recorder/recorder-config.ts';
import type { TimedWord } from '../recorder/word-timestamps.ts';
import { RecentAudio } from './recent-audio.ts';

/** Where transcribe() gets its recorder: a TranscriptionService, or a test's recorder with its own transcriber. */
export interface RecorderSource {
  createRecorder(sessionId: string, config?: Partial<RecorderConfig>, sampleRate?: number, keyterms?: BiasPhrase[]): Promise<Recorder>;
}

/** Audio to transcribe: samples in memory, or a stream of chunks read as the pipeline takes them. */
export type AudioSource = Float32Array | AsyncIterable<Float32Array>;

export interface TranscribeOptions {
  /** Recorder settings over the defaults. */
  config?: Partial<RecorderConfig>;
  /** Rate of the source's samples (default 16 kHz): the recorder's input stage resamples. */
  sampleRate?: number;
  /** Realtime partials too (default off: finals only); listen for them with `observe`. */
  partials?: boolean;
  /** Time every final's words (TimedWord, in seconds of the source; a 16 kHz source only). */
  words?: boolean;
  /** Stops reading: the finals so far are returned, the rest is dropped. */
  signal?: AbortSignal;
  /** Each final as it is delivered, in order. */
  onFinal?: (final: FinalTranscript, index: number) => void;
  /** The recorder before audio flows, for its other events (partials, timings). */
  observe?: (recorder: Recorder) => void;
  /** Names the session in the scheduler. */
  sessionId?: string;
  /** Keyterm spellings to decode toward (keyterms.ts). */
  keyterms?: BiasPhrase[];
}

export interface Transcription {
  finals: FinalTranscript[];
  /** What failed (a final that could not be transcribed); the finals around it are kept. */
  errors: RecorderError[];
  /** Seconds of audio read (at 16 kHz). */
  seconds: number;
  /** With `words`: every final's words, in order. */
  words?: TimedWord[];
}

/** Finals of one source in the shared scheduler at once, so that a long file does not starve live sessions. */
const MAX_OUTSTANDING_FINALS = 2;
/** Audio fed to the recorder per step. */
const FEED_SECONDS = 1;
/**
 * Audio kept behind the decoder for word timestamps: a final arrives at most MAX_OUTSTANDING_FINALS utterances
 * (25 s each at most) after its audio was fed, so this covers it (5.8 MB of 16 kHz floats).
 */
const WORD_AUDIO_SECONDS = 90;

/**
 * The one way a file, an upload or a stream goes through a recorder (VAD segmentation, finals; partials on request)
 * and comes out as finals. Audio is fed a second at a time, and reading pauses while MAX_OUTSTANDING_FINALS finals are
 * pending (backpressure): a stream source is read no faster than the pipeline takes it, and one long source shares
 * the scheduler with live sessions.
 */
export async function transcribe(source: RecorderSource, audio: AudioSource, options: TranscribeOptions = {}): Promise<Transcription> {
  const sampleRate = options.sampleRate ?? ASR_SAMPLE_RATE;
  if (options.words && sampleRate !== ASR_SAMPLE_RATE) throw new RangeError(`word timestamps need 16 kHz audio (got ${sampleRate} Hz)`);
  const recorder = await source.createRecorder(options.sessionId ?? `file-${randomUUID()}`, { ...options.config, enableRealtimeTranscription: options.partials ?? false }, sampleRate, options.keyterms);
  const finals: FinalTranscript[] = [];
  const errors: RecorderError[] = [];
  const recent = options.words ? new RecentAudio(WORD_AUDIO_SECONDS * ASR_SAMPLE_RATE) : undefined;
  const words: TimedWord[] = [];
  let samples = 0;
  let outstanding = 0;
  let wake: (() => void) | undefined;
  const settled = () => {
    outstanding--;
    wake?.();
  };
  recorder.on('recordingStop', () => outstanding++);
  recorder.on('transcriptionFinished', (f) => {
    finals.push(f);
    if (recent) words.push(...recent.words(f));
    options.onFinal?.(f, finals.length - 1);
    settled();
  });
  recorder.on('utteranceDiscarded', settled);
  recorder.on('error', (e) => {
    errors.push(e);
    if (e.utterance !== undefined) settled();
    else wake?.();
  });
  options.observe?.(recorder);
  const result = (): Transcription => ({ finals, errors, seconds: samples / sampleRate, ...(recent ? { words } : {}) });
  try {
    recorder.start();
    const step = FEED_SECONDS * sampleRate;
    for await (const chunk of audio instanceof Float32Array ? [audio] : audio) {
      for (let i = 0; i < chunk.length; i += step) {
        if (options.signal?.aborted) {
          recorder.abort();
          return result();
        }
        const piece = chunk.subarray(i, i + step);
        recent?.push(piece);
        samples += piece.length;
        recorder.feedAudio(piece, sampleRate);
        await recorder.drain();
        while (outstanding >= MAX_OUTSTANDING_FINALS && errors.length === 0) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      }
    }
    await recorder.stop();
    return result();
  } finally {
    recorder.shutdown();
  }
}
