import type { BiasPhrase } from './context-graph.ts';
import type { ThreadTime } from './thread-cpu.ts';

/** What every speech recognizer offers the recorder and the scheduler; Moonshine is the first, Whisper can join later. */
export interface TranscribeOptions {
  /** Abandon the decode between steps (the result is then rejected with an AbortError). */
  signal?: AbortSignal;
  /** Hypotheses kept per decoder step: 1 (the default) is greedy decoding. */
  beams?: number;
  /** Where a cross-check model is loaded (cross-check-engine.ts): use it; otherwise the main model runs alone. */
  crossCheck?: boolean;
  /**
   * Token ids the text must begin with (greedy decoding only): a partial continues what the previous ones agreed on,
   * read in one call instead of a decoder step per token. Its score then covers only the tokens after the prefix.
   */
  prefix?: number[];
  /**
   * Tokens likely to follow the prefix (a partial passes the previous one's): where the model reads several tokens
   * per call they are checked in the prefix's call and kept as far as the model would choose them itself, saving a
   * decoder step each. The text is that of decoding without one (up to rounding in near ties).
   */
  draft?: number[];
  /**
   * Keyterm spellings to bias decoding toward (keyterms.ts, context-graph.ts, biased-decoding.ts). A draft is then
   * kept as far as the biased choice agrees with it (without forks only: a partial's).
   */
  keyterms?: BiasPhrase[];
  /**
   * Under keyterms, the model's own choices kept and rescored where a begun keyterm was abandoned (biased-decoding.ts);
   * default 2. The scheduler asks 0 for partials and for finals overflowing onto the realtime model under load, the
   * cross-check for its check model: tiny forked most (58 % more decoder steps under 100 keyterms), a partial is
   * replaced by its final, and a check hypothesis is scored by both models.
   */
  keytermForks?: number;
}

/** What a worker thread is told besides the audio (a signal cannot cross to it). */
export type DecodeOptions = Omit<TranscribeOptions, 'signal'>;

/** How likely a model finds a token sequence: natural-log probabilities, the end token included. */
export interface SequenceScore {
  logProb: number;
  /** Tokens scored: the sequence's and the end token. */
  tokens: number;
}

export interface Transcript {
  text: string;
  /** The model that produced it (under load a final may come from the realtime model). */
  model: string;
  audioSeconds: number;
  processingMs: number;
  /** Token ids of `text` (models that share a vocabulary can score each other's). */
  tokens?: number[];
  /** How likely the model that wrote it finds it. */
  score?: SequenceScore;
  /** A cross-checked final (cross-check-engine.ts): both models wrote it, or the main model's text was kept or replaced. */
  crossCheck?: 'agreed' | 'kept' | 'replaced';
  /** Keyterms the text completes (decoded with TranscribeOptions.keyterms). */
  keyterms?: number;
  /** The inference thread's time on a CPU and waiting for one during the job (Linux; set by the engine's worker). */
  thread?: ThreadTime;
}

/** Mean log-probability per token: a confidence comparable across hypotheses of different lengths. */
export function meanLogProb(score: SequenceScore): number {
  return score.logProb / score.tokens;
}

export interface AsrEngine {
  /** Catalog name of the model, e.g. "moonshine-tiny". */
  readonly name: string;
  /** Longest audio the model takes in one call, in seconds. */
  readonly maxAudioSeconds: number;
  /** 16 kHz mono samples in [-1, 1]. Safe to call concurrently. */
  transcribe(samples: Float32Array, options?: TranscribeOptions): Promise<Transcript>;
  dispose(): Promise<void>;
}

export const ASR_SAMPLE_RATE = 16000;

export function abortError(): Error {
  const error = new Error('transcription aborted');
  error.name = 'AbortError';
  return error;
}
