import { splitWords } from '../asr/words.ts';

/**
 * Word timestamps for a final. Moonshine gives no timings, so words are laid over the segment's voiced audio: 10 ms
 * frames whose energy is above a threshold between the segment's noise floor and its loudest speech count as speech,
 * and each word gets a share of the speech time in proportion to its length in letters (long words take longer to
 * say). Pauses therefore fall between words rather than inside them. The error against known boundaries is measured
 * by `npm run bench` (docs/benchmarks.md).
 */

export interface TimedWord {
  word: string;
  start: number;
  end: number;
}

const FRAME_SECONDS = 0.01;

/** `samples` at `rate` hold the whole stream; `start`/`end` (seconds) bound the segment whose text is `text`. */
export function wordTimestamps(samples: Float32Array, rate: number, start: number, end: number, text: string): TimedWord[] {
  const words = splitWords(text);
  if (words.length === 0) return [];
  const frame = Math.max(1, Math.round(FRAME_SECONDS * rate));
  const first = Math.max(0, Math.floor(start * rate));
  const last = Math.min(samples.length, Math.ceil(end * rate));
  const frames = Math.max(0, Math.floor((last - first) / frame));
  if (frames === 0) return spread(words, start, end);

  const energy = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let i = first + f * frame, e = i + frame; i < e; i++) sum += samples[i]! * samples[i]!;
    energy[f] = Math.log10(sum / frame + 1e-10);
  }
  const sorted = Float64Array.from(energy).sort();
  const floor = sorted[Math.floor(frames * 0.1)]!;
  const peak = sorted[Math.floor(frames * 0.95)]!;
  const threshold = floor + (peak - floor) * 0.3;
  const voiced: number[] = [];
  for (let f = 0; f < frames; f++) if (energy[f]! >= threshold) voiced.push(f);
  if (voiced.length < words.length) return spread(words, start, end);

  // Letters per word (at least one, so digits and short words still get time), laid over the voiced frames in order.
  const weights = words.map((w) => Math.max(1, w.replace(/[^\p{L}\p{N}]/gu, '').length));
  const total = weights.reduce((a, b) => a + b, 0);
  const frameStart = (f: number) => (first + f * frame) / rate;
  const out: TimedWord[] = [];
  let used = 0;
  for (let i = 0; i < words.length; i++) {
    const from = Math.round((used / total) * voiced.length);
    used += weights[i]!;
    const to = Math.max(from + 1, Math.round((used / total) * voiced.length));
    out.push({ word: words[i]!, start: round3(frameStart(voiced[from]!)), end: round3(frameStart(voiced[Math.min(to, voiced.length) - 1]!) + FRAME_SECONDS) });
  }
  return out;
}

/** Without usable audio: equal shares of the segment. */
function spread(words: string[], start: number, end: number): TimedWord[] {
  const step = (end - start) / words.length;
  return words.map((word, i) => ({ word, start: round3(start + i * step), end: round3(start + (i + 1) * step) }));
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
