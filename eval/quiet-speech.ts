import { colored, hash, mulberry32 } from './noisy-dev-set.ts';

/**
 * Speech as a quiet or distant source delivers it: scaled to a given peak and laid over a microphone's self-noise
 * (pink noise, fixed seed per name). Levels in dBFS with a full-scale square wave at 0 dB, as the VAD measures them.
 */

/** The self-noise floor under the quiet conditions (issue #30: a microphone's, RMS). */
export const NOISE_FLOOR_DBFS = -72;

/** A copy of `samples` scaled so that its largest sample is at `peakDbfs`. */
export function atPeak(samples: Float32Array, peakDbfs: number): Float32Array {
  let peak = 0;
  for (const v of samples) peak = Math.max(peak, Math.abs(v));
  const gain = peak > 0 ? 10 ** (peakDbfs / 20) / peak : 0;
  return samples.map((v) => v * gain);
}

/** Pink noise at `rmsDbfs`, the same for the same `seed`. */
export function pinkNoise(length: number, rmsDbfs: number, seed: string): Float32Array {
  const noise = colored('pink', length, mulberry32(hash(seed)));
  let sum = 0;
  for (const v of noise) sum += v * v;
  const gain = 10 ** (rmsDbfs / 20) / Math.sqrt(sum / Math.max(1, length));
  return noise.map((v) => v * gain);
}

/** `samples` with pink noise at `noiseDbfs` RMS added (a copy). */
export function overNoise(samples: Float32Array, seed: string, noiseDbfs = NOISE_FLOOR_DBFS): Float32Array {
  const noise = pinkNoise(samples.length, noiseDbfs, seed);
  return samples.map((v, i) => v + noise[i]!);
}

/** Speech at `peakDbfs` over the noise floor: what a soft voice across the room gives. */
export function quietSpeech(samples: Float32Array, peakDbfs: number, seed: string): Float32Array {
  return overNoise(atPeak(samples, peakDbfs), seed);
}
