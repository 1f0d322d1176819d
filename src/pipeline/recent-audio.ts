import { ASR_SAMPLE_RATE } from '../asr/engine.ts';
import type { FinalTranscript } from '../recorder/recorder.ts';
import { wordTimestamps, type TimedWord } from '../recorder/word-timestamps.ts';

/** The last `capacity` samples of a 16 kHz stream, in the chunks they came in, for timing a final's words. */
export class RecentAudio {
  private readonly chunks: Array<{ start: number; samples: Float32Array }> = [];
  private end = 0;

  constructor(private readonly capacity: number) {}

  push(samples: Float32Array): void {
    this.chunks.push({ start: this.end, samples });
    this.end += samples.length;
    while (this.chunks.length > 1 && this.end - this.chunks[1]!.start >= this.capacity) this.chunks.shift();
  }

  /** The words of a final, timed over the audio it was heard in (evenly spread if that audio is gone). */
  words(f: FinalTranscript): TimedWord[] {
    const from = Math.floor(f.start * ASR_SAMPLE_RATE);
    const to = Math.min(this.end, Math.ceil(f.end * ASR_SAMPLE_RATE));
    const kept = this.chunks[0]?.start ?? 0;
    const first = Math.max(from, kept);
    const span = new Float32Array(Math.max(0, to - first));
    for (const c of this.chunks) {
      const lo = Math.max(first, c.start);
      const hi = Math.min(to, c.start + c.samples.length);
      if (hi > lo) span.set(c.samples.subarray(lo - c.start, hi - c.start), lo - first);
    }
    const offset = first / ASR_SAMPLE_RATE;
    return wordTimestamps(span, ASR_SAMPLE_RATE, f.start - offset, f.end - offset, f.text).map((w) => ({ ...w, start: round3(w.start + offset), end: round3(w.end + offset) }));
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
