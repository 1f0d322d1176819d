import path from 'node:path';
import { ModelStore } from '../models/store.ts';
import { SileroModel } from './silero-vad.ts';

/** The process-wide Silero model from the model store (one session shared by every detector). */
export async function loadSileroModel(store = new ModelStore()): Promise<SileroModel> {
  const dir = await store.require('silero-vad');
  return SileroModel.load(path.join(dir, 'silero_vad_v5.onnx'));
}
