import type { DecodeOptions, Transcript } from './engine.ts';

export interface ModelLocation {
  name: string;
  dir: string;
  /** Its finals are cross-checked by this model (cross-check-engine.ts), loaded in the same worker. */
  checkWith?: ModelLocation;
  /** It runs partials, which continue a prefix (MoonshineOptions.prefixes). */
  prefixes?: boolean;
}

/** Messages between the engine pool and its worker threads. */
export interface WorkerData {
  models: ModelLocation[];
  threads: number;
}

export type WorkerRequest =
  | { type: 'transcribe'; id: number; model: string; samples: Float32Array; options: DecodeOptions }
  | { type: 'cancel'; id: number }
  /** Finish (aborting the job in hand at its next decoder step), free the sessions and end the thread. */
  | { type: 'exit' }
  /** Test hook: end the thread at once, as a crash would. */
  | { type: 'die' };

export type WorkerReply =
  /** Loaded; the longest audio each of its engines takes in one call (AsrEngine.maxAudioSeconds). */
  | { type: 'ready'; maxAudioSeconds: Record<string, number> }
  | { type: 'load-error'; message: string }
  | { type: 'result'; id: number; transcript: Transcript }
  | { type: 'error'; id: number; name: string; message: string };
