// Builds WAV files byte by byte so tests can cover encodings the fixtures don't have.

export interface WavSpec {
  sampleRate: number;
  /** One array per channel, values in [-1, 1]. */
  channels: number[][];
  bitsPerSample: 8 | 16 | 24 | 32 | 64;
  float?: boolean;
  extensible?: boolean;
  /** Chunks placed between fmt and data, e.g. LIST; odd sizes get a pad byte. */
  extraChunks?: { id: string; body: Uint8Array }[];
  /** Overrides the data chunk's size field (0 or 0xFFFFFFFF as streaming recorders write). */
  dataSizeField?: number;
  /** Bytes appended after the data chunk (a trailing chunk, or garbage). */
  trailer?: Uint8Array;
}

function chunk(id: string, body: Uint8Array, sizeField = body.length): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, 'ascii');
  head.writeUInt32LE(sizeField, 4);
  return Buffer.concat([head, body, Buffer.alloc(body.length & 1)]);
}

function encodeSample(v: number, bits: number, float: boolean, out: Buffer, at: number): void {
  if (float) {
    if (bits === 32) out.writeFloatLE(v, at);
    else out.writeDoubleLE(v, at);
    return;
  }
  switch (bits) {
    case 8:
      out.writeUInt8(Math.max(0, Math.min(255, Math.round(v * 128) + 128)), at);
      break;
    case 16:
      out.writeInt16LE(Math.max(-32768, Math.min(32767, Math.round(v * 32768))), at);
      break;
    case 24:
      out.writeIntLE(Math.max(-8388608, Math.min(8388607, Math.round(v * 8388608))), at, 3);
      break;
    default:
      out.writeInt32LE(Math.max(-2147483648, Math.min(2147483647, Math.round(v * 2147483648))), at);
  }
}

export function buildWav(spec: WavSpec): Buffer {
  const float = spec.float ?? false;
  const nch = spec.channels.length;
  const bytes = spec.bitsPerSample / 8;
  const frames = spec.channels[0].length;
  const tag = float ? 3 : 1;

  const fmt = Buffer.alloc(spec.extensible ? 40 : 16);
  fmt.writeUInt16LE(spec.extensible ? 0xfffe : tag, 0);
  fmt.writeUInt16LE(nch, 2);
  fmt.writeUInt32LE(spec.sampleRate, 4);
  fmt.writeUInt32LE(spec.sampleRate * nch * bytes, 8);
  fmt.writeUInt16LE(nch * bytes, 12);
  fmt.writeUInt16LE(spec.bitsPerSample, 14);
  if (spec.extensible) {
    fmt.writeUInt16LE(22, 16); // cbSize
    fmt.writeUInt16LE(spec.bitsPerSample, 18); // valid bits
    fmt.writeUInt32LE(nch === 2 ? 3 : 4, 20); // channel mask
    // SubFormat GUID: tag, then the fixed KSDATAFORMAT suffix.
    fmt.writeUInt16LE(tag, 24);
    Buffer.from([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71]).copy(fmt, 26);
  }

  const data = Buffer.alloc(frames * nch * bytes);
  for (let f = 0; f < frames; f++) {
    for (let c = 0; c < nch; c++) encodeSample(spec.channels[c][f], spec.bitsPerSample, float, data, (f * nch + c) * bytes);
  }

  const parts = [chunk('fmt ', fmt)];
  for (const extra of spec.extraChunks ?? []) parts.push(chunk(extra.id, extra.body));
  parts.push(chunk('data', data, spec.dataSizeField));
  if (spec.trailer) parts.push(Buffer.from(spec.trailer));
  const body = Buffer.concat(parts);
  const riff = Buffer.alloc(12);
  riff.write('RIFF', 0, 'ascii');
  riff.writeUInt32LE(4 + body.length, 4);
  riff.write('WAVE', 8, 'ascii');
  return Buffer.concat([riff, body]);
}

export function sine(freq: number, rate: number, frames: number, amplitude = 0.5): number[] {
  return Array.from({ length: frames }, (_, i) => amplitude * Math.sin((2 * Math.PI * freq * i) / rate));
}
