import os from 'node:os';
import path from 'node:path';

/** Where the model store keeps Silero VAD; stands in for the store's resolver in these tests. */
export const sileroModelPath = path.join(
  process.env.EARSHOT_MODELS_DIR ?? path.join(os.homedir(), '.cache', 'earshot', 'models'),
  'silero-vad',
  'silero_vad_v5.onnx',
);
