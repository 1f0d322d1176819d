import { Pcm16Stream } from '../audio/pcm.ts';
import { prepareResampler, StreamingResampler } from '../audio/resample.ts';
import { ASR_SAMPLE_RATE } from '../asr/engine.ts';

/**
 * The recorder's input stage, the one place a stream's audio is decoded and resampled: PCM16 little-endian bytes
 * (any chunk size; an odd byte waits for the next chunk) or float samples, at any rate, in; 16 kHz float samples out.
 * The gain stage (src/audio/adaptive-gain.ts) comes after it, on the recorder's VAD windows: push() may hand back the
 * caller's own samples, which are not to be changed in place.
 */
export class AudioInput {
  private readonly pcm = new Pcm16Stream();
  private resampler?: StreamingResampler;

  /** Builds the resampling filter for `sampleRate` between other work, so the first push() does not stall the loop. */
  static prepare(sampleRate: number): Promise<void> {
    return prepareResampler(sampleRate, ASR_SAMPLE_RATE);
  }

  /** The 16 kHz samples of `chunk`; at a change of rate, the previous rate's held-back tail comes first. */
  push(chunk: Uint8Array | Float32Array, sampleRate: number): Float32Array {
    const samples = chunk instanceof Float32Array ? chunk : this.pcm.push(chunk);
    if (sampleRate === ASR_SAMPLE_RATE && !this.resampler) return samples;
    if (this.resampler?.fromRate === sampleRate) return this.resampler.process(samples);
    const tail = this.flush();
    if (sampleRate !== ASR_SAMPLE_RATE) this.resampler = new StreamingResampler(sampleRate, ASR_SAMPLE_RATE);
    const out = this.resampler ? this.resampler.process(samples) : samples;
    if (tail.length === 0) return out;
    const joined = new Float32Array(tail.length + out.length);
    joined.set(tail);
    joined.set(out, tail.length);
    return joined;
  }

  /** What the resampler holds back (the stream ends or changes rate). */
  flush(): Float32Array {
    const tail = this.resampler?.flush() ?? new Float32Array(0);
    this.resampler = undefined;
    return tail;
  }

  /** A new stream: nothing held back. */
  reset(): void {
    this.pcm.reset();
    this.resampler = undefined;
  }
}
