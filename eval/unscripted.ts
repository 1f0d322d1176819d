import { clipSamples, concat } from './conversation.ts';
import { clip, type SpeechClip } from './speech.ts';

/**
 * A dev recording with unscripted pauses, built from the dev clips: unscripted speech stops inside sentences (a
 * speaker looks for a word), which read speech rarely does. Each sentence's quiet places between words are found
 * (the 10 ms frames well below the clip's speech level) and the longest few are stretched to hesitations of 150-450 ms;
 * sentences follow each other after 0.9-1.6 s. Deterministic: the same samples every time. The reference text is the
 * clips' own, so WER is counted against it and against the seed protocol's words on the same audio.
 */
export const UNSCRIPTED_CLIPS: SpeechClip[] = [
  'sense_and_sensibility_01_austen_64kb-0870.wav',
  'cards-005.wav',
  'sense_and_sensibility_01_austen_64kb-0890.wav',
  'jfk.wav',
  'sense_and_sensibility_01_austen_64kb-0920.wav',
  'goforward.wav',
  'sense_and_sensibility_01_austen_64kb-0930.wav',
].map(clip);

const RATE = 16000;
const FRAME = RATE / 100;
/** Hesitations per sentence at most, and their lengths (cycled). */
const HESITATIONS = 3;
const HESITATION_SECONDS = [0.3, 0.15, 0.45, 0.25, 0.35, 0.2];
const GAP_SECONDS = [1.2, 0.9, 1.6, 1.0, 1.4, 1.1, 1.3];

export function unscripted(): { samples: Float32Array; clips: SpeechClip[]; sentences: number } {
  const parts: Float32Array[] = [new Float32Array(RATE)];
  let h = 0;
  for (const [i, c] of UNSCRIPTED_CLIPS.entries()) {
    const samples = clipSamples(c);
    let from = 0;
    for (const at of quietPlaces(samples)) {
      parts.push(samples.subarray(from, at), new Float32Array(Math.round(HESITATION_SECONDS[h++ % HESITATION_SECONDS.length]! * RATE)));
      from = at;
    }
    parts.push(samples.subarray(from), new Float32Array(Math.round(GAP_SECONDS[i % GAP_SECONDS.length]! * RATE)));
  }
  return { samples: concat(...parts), clips: UNSCRIPTED_CLIPS, sentences: UNSCRIPTED_CLIPS.length };
}

/** Up to HESITATIONS sample indices, in order: the middles of the longest quiet runs between the clip's words. */
function quietPlaces(samples: Float32Array): number[] {
  const frames = Math.floor(samples.length / FRAME);
  const level = new Float64Array(frames);
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let i = f * FRAME; i < (f + 1) * FRAME; i++) sum += samples[i]! * samples[i]!;
    level[f] = Math.sqrt(sum / FRAME);
  }
  const sorted = [...level].sort((a, b) => a - b);
  const speech = sorted[Math.floor(frames * 0.9)]!;
  const quiet = (f: number) => level[f]! < speech * 0.06;
  // Only between words: not within the clip's leading or trailing silence.
  let first = 0;
  while (first < frames && quiet(first)) first++;
  let last = frames - 1;
  while (last > first && quiet(last)) last--;
  const runs: Array<{ start: number; length: number }> = [];
  for (let f = first; f <= last; f++) {
    if (!quiet(f)) continue;
    const start = f;
    while (f <= last && quiet(f)) f++;
    if (f - start >= 3) runs.push({ start, length: f - start });
  }
  return runs
    .sort((a, b) => b.length - a.length)
    .slice(0, HESITATIONS)
    .map((r) => (r.start + Math.floor(r.length / 2)) * FRAME)
    .sort((a, b) => a - b);
}
