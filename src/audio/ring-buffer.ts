// Fixed-capacity float sample buffer keeping the most recent samples (the VAD pre-roll).

export class RingBuffer {
  readonly capacity: number;
  private readonly buf: Float32Array;
  // Index the next sample goes to; when full it is also the oldest sample.
  private writePos = 0;
  private size = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`capacity must be a non-negative integer, got ${capacity}`);
    this.capacity = capacity;
    this.buf = new Float32Array(capacity);
  }

  /** Number of samples held, at most `capacity`. */
  get length(): number {
    return this.size;
  }

  /** Appends samples, overwriting the oldest once full. Copies; `samples` may be reused after. */
  write(samples: Float32Array): void {
    const cap = this.capacity;
    if (cap === 0) return;
    // Only the newest `cap` samples can survive, so skip the rest.
    const skip = Math.max(0, samples.length - cap);
    let pos = this.writePos;
    // Plain loops instead of set(subarray(...)): no view objects per audio frame.
    for (let i = skip; i < samples.length; i++) {
      this.buf[pos] = samples[i];
      if (++pos === cap) pos = 0;
    }
    this.writePos = pos;
    this.size = Math.min(cap, this.size + samples.length);
  }

  /** The held samples, oldest first, as a new array. */
  readAll(): Float32Array {
    const out = new Float32Array(this.size);
    const start = this.size < this.capacity ? 0 : this.writePos;
    const firstPart = Math.min(this.size, this.capacity - start);
    out.set(this.buf.subarray(start, start + firstPart));
    out.set(this.buf.subarray(0, this.size - firstPart), firstPart);
    return out;
  }

  /** The held samples in place, in storage order (not time order): for changes that treat every sample alike. */
  held(): Float32Array {
    return this.buf.subarray(0, this.size);
  }

  clear(): void {
    this.writePos = 0;
    this.size = 0;
  }
}
