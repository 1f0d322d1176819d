export { concat } from '../../eval/conversation.ts';
/** Uniform white noise in [-amplitude, amplitude] from a seeded generator (mulberry32), so runs repeat. */
export function whiteNoise(samples: number, amplitude: number, seed: number): Float32Array {
  const out = new Float32Array(samples);
  let state = seed >>> 0;
  for (let i = 0; i < samples; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1) * amplitude;
  }
  return out;
}

