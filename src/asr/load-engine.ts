import { findModel } from '../models/catalog.ts';
import { ModelStore } from '../models/store.ts';
import { MoonshineEngine } from './moonshine-engine.ts';

export const ASR_MODELS = ['moonshine-tiny', 'moonshine-base'] as const;

/** Loads a catalog ASR model from the store; a missing model fails with the command that fetches it. */
export async function loadEngine(name: string, { store = new ModelStore(), threads = 1, prefixes = false } = {}): Promise<MoonshineEngine> {
  const entry = findModel(name, store.catalog);
  if (entry.role !== 'asr') throw new Error(`"${name}" is not a speech recognition model`);
  const dir = await store.require(name);
  return MoonshineEngine.load({ name, dir, threads, prefixes });
}
