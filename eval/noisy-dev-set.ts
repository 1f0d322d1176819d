/**
 * The noisy dev set: every dev clip with pink, brown or babble noise at 10, 5 and 0 dB SNR, and the clean clip through
 * an 8 kHz telephone band. Generated here from the fixtures with a fixed seed, so every run mixes the same audio.
 * SNR is measured against the clip's active speech (its 32 ms windows within 30 dB of the loudest).
 */
import { ASR_SAMPLE_RATE } from '../src/asr/engine.ts';
import { resample } from '../src/audio/resample.ts';
import { clipSamples, concat } from './conversation.ts';
import { SPEECH_CLIPS, type SpeechClip } from './speech.ts';

export type NoiseKind = 'pink' | 'brown' | 'babble';

export interface Condition {
  name: string;
  noise?: NoiseKind;
  snrDb?: number;
  /** Rate the audio is delivered at (8000: telephone band, sent as 8 kHz PCM). */
  sampleRate: number;
}

export const CONDITIONS: Condition[] = [
  { name: 'clean', sampleRate: ASR_SAMPLE_RATE },
  ...(['pink', 'brown', 'babble'] as const).flatMap((noise) => [10, 5, 0].map((snrDb) => ({ name: `${noise} ${snrDb} dB`, noise, snrDb, sampleRate: ASR_SAMPLE_RATE }))),
  { name: 'telephone (8 kHz μ-law)', sampleRate: 8000 },
];

export interface NoisyClip {
  clip: SpeechClip;
  /** At `condition.sampleRate`. */
  samples: Float32Array;
}

/** Silence around each clip before mixing, so the VAD meets the noise before the speech. */
export const PAD_SECONDS = 0.5;
/** Talkers in the babble: other dev clips, each looped from its own offset. */
const BABBLE_TALKERS = 8;

export function noisyDevSet(condition: Condition, clips: SpeechClip[] = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav')): NoisyClip[] {
  return clips.map((clip) => {
    const pad = new Float32Array(Math.round(PAD_SECONDS * ASR_SAMPLE_RATE));
    const speech = clipSamples(clip);
    let samples = concat(pad, speech, pad);
    if (condition.noise) {
      const random = mulberry32(hash(`${clip.file} ${condition.name}`));
      const noise = condition.noise === 'babble' ? babble(clip, samples.length, random) : colored(condition.noise, samples.length, random);
      samples = mix(samples, noise, activePower(speech), condition.snrDb!);
    }
    if (condition.sampleRate !== ASR_SAMPLE_RATE) samples = muLaw(resample(samples, ASR_SAMPLE_RATE, condition.sampleRate));
    return { clip, samples };
  });
}

function mix(speech: Float32Array, noise: Float32Array, speechPower: number, snrDb: number): Float32Array {
  const gain = Math.sqrt(speechPower / (power(noise) * 10 ** (snrDb / 10)));
  const out = new Float32Array(speech.length);
  let peak = 0;
  for (let i = 0; i < out.length; i++) peak = Math.max(peak, Math.abs((out[i] = speech[i]! + gain * noise[i]!)));
  // Keep the mixture inside PCM16's range, as a recording would be (scaling keeps the SNR).
  if (peak > 0.99) for (let i = 0; i < out.length; i++) out[i]! *= 0.99 / peak;
  return out;
}

/** Pink (Paul Kellet's filter) or brown (leaky integral) noise from white. */
export function colored(kind: 'pink' | 'brown', length: number, random: () => number): Float32Array {
  const out = new Float32Array(length);
  let b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0, brown = 0;
  for (let i = 0; i < length; i++) {
    const white = random() * 2 - 1;
    if (kind === 'brown') {
      brown = 0.995 * brown + 0.05 * white;
      out[i] = brown;
    } else {
      b0 = 0.99886 * b0 + white * 0.0555179;
      b1 = 0.99332 * b1 + white * 0.0750759;
      b2 = 0.969 * b2 + white * 0.153852;
      b3 = 0.8665 * b3 + white * 0.3104856;
      b4 = 0.55 * b4 + white * 0.5329522;
      b5 = -0.7616 * b5 - white * 0.016898;
      out[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + white * 0.5362;
      b6 = white * 0.115926;
    }
  }
  return out;
}

/** Other dev clips talking at once (never the clip itself, so the model cannot borrow its words). */
function babble(target: SpeechClip, length: number, random: () => number): Float32Array {
  const others = SPEECH_CLIPS.filter((c) => c.file !== target.file);
  const out = new Float32Array(length);
  for (let t = 0; t < BABBLE_TALKERS; t++) {
    const talker = clipSamples(others[Math.floor(random() * others.length)]!);
    const offset = Math.floor(random() * talker.length);
    const gain = 1 / Math.sqrt(activePower(talker));
    for (let i = 0; i < length; i++) out[i]! += gain * talker[(offset + i) % talker.length]!;
  }
  return out;
}

function power(x: Float32Array): number {
  let sum = 0;
  for (const v of x) sum += v * v;
  return sum / Math.max(1, x.length);
}

function activePower(x: Float32Array): number {
  const size = 512;
  const windows = Array.from({ length: Math.floor(x.length / size) }, (_, w) => power(x.subarray(w * size, (w + 1) * size)));
  const loudest = Math.max(...windows);
  const active = windows.filter((p) => p > loudest / 1000);
  return active.reduce((a, b) => a + b, 0) / Math.max(1, active.length);
}

/** G.711 μ-law's 8-bit companding, there and back: what a phone line leaves of the samples. */
function muLaw(x: Float32Array): Float32Array {
  const mu = 255;
  return x.map((v) => {
    const code = Math.round((Math.sign(v) * Math.log1p(mu * Math.min(1, Math.abs(v)))) / Math.log1p(mu) * 127);
    return (Math.sign(code) * ((1 + mu) ** (Math.abs(code) / 127) - 1)) / mu;
  });
}

export function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
