// 16-bit little-endian PCM <-> float32 conversion, whole-buffer and streaming.

// Full-scale divisor: int16 maps onto [-1, 1) exactly, and float32ToPcm16 inverts it bit for bit.
const SCALE = 32768;

// Bytes are combined by hand rather than through an Int16Array view so that any byteOffset
// (odd, unaligned Buffer slices) and any host endianness work without copying.
function decodeInto(bytes: Uint8Array, start: number, count: number, out: Float32Array, outStart: number): void {
  for (let i = 0, b = start; i < count; i++, b += 2) {
    out[outStart + i] = (((bytes[b] | (bytes[b + 1] << 8)) << 16) >> 16) / SCALE;
  }
}

/**
 * Decodes little-endian int16 samples to floats in [-1, 1). A trailing odd byte is ignored.
 * When `out` is given it must hold at least bytes.length >> 1 samples; the decoded prefix is returned.
 */
export function pcm16ToFloat32(bytes: Uint8Array, out?: Float32Array): Float32Array {
  const count = bytes.length >> 1;
  if (out === undefined) out = new Float32Array(count);
  else if (out.length < count) throw new RangeError(`output holds ${out.length} samples, need ${count}`);
  decodeInto(bytes, 0, count, out, 0);
  return out.length === count ? out : out.subarray(0, count);
}

/** Encodes floats as int16, clamping to full scale; NaN becomes 0. */
export function float32ToPcm16(samples: Float32Array): Int16Array {
  const out = new Int16Array(samples.length);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round(samples[i] * SCALE);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v || 0;
  }
  return out;
}

/**
 * Decodes a byte stream whose chunk boundaries need not fall on sample boundaries
 * (WebSocket frames, HTTP bodies): an odd trailing byte is held until the next chunk, so any
 * chunking yields exactly the samples of the concatenated bytes.
 */
export class Pcm16Stream {
  // Low byte of a sample split across chunks, or -1 when none is pending.
  private carry = -1;

  /** Returns the samples completed by this chunk as a fresh array the caller owns. */
  push(chunk: Uint8Array): Float32Array {
    if (this.carry < 0) {
      const out = pcm16ToFloat32(chunk);
      if (chunk.length & 1) this.carry = chunk[chunk.length - 1];
      return out;
    }
    if (chunk.length === 0) return new Float32Array(0);
    const rest = chunk.length - 1;
    const out = new Float32Array(1 + (rest >> 1));
    out[0] = (((this.carry | (chunk[0] << 8)) << 16) >> 16) / SCALE;
    decodeInto(chunk, 1, rest >> 1, out, 1);
    this.carry = rest & 1 ? chunk[chunk.length - 1] : -1;
    return out;
  }

  /** Drops a pending half sample, e.g. when a new stream starts on the same connection. */
  reset(): void {
    this.carry = -1;
  }
}
