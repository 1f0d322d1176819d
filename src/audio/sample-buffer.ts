/**
 * A growable run of float samples (capacity doubles, never shrinks), used for an utterance in progress and for
 * audio waiting for the VAD. Appends copy into the spare capacity, so steady streaming allocates nothing.
 */
export class SampleBuffer {
  private data: Float32Array;
  private start = 0;
  private end = 0;

  constructor(initialCapacity = 16000) {
    this.data = new Float32Array(initialCapacity);
  }

  get length(): number {
    return this.end - this.start;
  }

  append(samples: Float32Array): void {
    if (this.end + samples.length > this.data.length) this.makeRoom(samples.length);
    this.data.set(samples, this.end);
    this.end += samples.length;
  }

  /** A live view of samples [from, to) relative to the first held sample; valid until the next append or shift. */
  view(from = 0, to = this.length): Float32Array {
    return this.data.subarray(this.start + from, this.start + to);
  }

  /** Copies out the first `into.length` samples and drops them from the front. */
  shiftInto(into: Float32Array): void {
    into.set(this.data.subarray(this.start, this.start + into.length));
    this.start += into.length;
    if (this.start === this.end) this.start = this.end = 0;
  }

  clear(): void {
    this.start = this.end = 0;
  }

  private makeRoom(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.data.length && this.start > 0) {
      this.data.copyWithin(0, this.start, this.end);
    } else {
      const grown = new Float32Array(Math.max(needed, this.data.length * 2));
      grown.set(this.data.subarray(this.start, this.end));
      this.data = grown;
    }
    this.end -= this.start;
    this.start = 0;
  }
}
