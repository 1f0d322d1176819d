import createRnnoiseModule, { type RnnoiseModule } from '@echogarden/rnnoise-wasm';
import { ASR_SAMPLE_RATE } from '../asr/engine.ts';
import { resample } from './resample.ts';

/** RNNoise works on 10 ms frames at 48 kHz. */
const RNNOISE_RATE = 48000;

let loading: Promise<RnnoiseModule> | undefined;

/** RNNoise (xiph's recurrent noise suppressor, in WebAssembly) over a whole 16 kHz signal. */
export async function suppressNoise(samples: Float32Array): Promise<Float32Array> {
  loading ??= createRnnoiseModule();
  const m = await loading;
  const frame = m._rnnoise_get_frame_size();
  const input = resample(samples, ASR_SAMPLE_RATE, RNNOISE_RATE);
  const output = new Float32Array(input.length);
  const state = m._rnnoise_create(0);
  const buffer = m._malloc(frame * 4);
  try {
    for (let at = 0; at < input.length; at += frame) {
      const chunk = input.subarray(at, at + frame);
      const heap = m.HEAPF32.subarray(buffer / 4, buffer / 4 + frame);
      heap.fill(0);
      for (let i = 0; i < chunk.length; i++) heap[i] = chunk[i]! * 32768;
      m._rnnoise_process_frame(state, buffer, buffer);
      const out = m.HEAPF32.subarray(buffer / 4, buffer / 4 + chunk.length);
      for (let i = 0; i < chunk.length; i++) output[at + i] = out[i]! / 32768;
    }
  } finally {
    m._free(buffer);
    m._rnnoise_destroy(state);
  }
  return resample(output, RNNOISE_RATE, ASR_SAMPLE_RATE);
}
