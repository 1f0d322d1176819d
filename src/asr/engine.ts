/** What every speech recognizer offers the recorder and the scheduler; Moonshine is the first, Whisper can join later. */
export interface TranscribeOptions {
  /** Abandon the decode between steps (the result is then rejected with an AbortError). */
  signal?: AbortSignal;
}

export interface Transcript {
  text: string;
  /** The model that produced it (under load a final may come from the realtime model). */
  model: string;
  audioSeconds: number;
  processingMs: number;
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
