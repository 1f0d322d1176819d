// RIFF/WAVE parsing to mono float samples, and a minimal 16-bit mono writer.

import { float32ToPcm16 } from './pcm.ts';
import { MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from '../protocol/seed-messages.ts';

export type AudioFormatErrorCode =
  | 'NOT_WAV'
  | 'UNSUPPORTED_WAV_FORMAT'
  | 'TRUNCATED_WAV'
  | 'NOT_AUDIO'
  | 'FFMPEG_MISSING'
  | 'FILE_NOT_FOUND'
  | 'UNSUPPORTED_SAMPLE_RATE'
  | 'AUDIO_TOO_LONG';

/** An input that cannot be turned into audio; `code` lets callers map it to a user-facing reply. */
export class AudioFormatError extends Error {
  readonly code: AudioFormatErrorCode;

  constructor(code: AudioFormatErrorCode, message: string) {
    super(message);
    this.name = 'AudioFormatError';
    this.code = code;
  }
}

export interface WavAudio {
  /** Mono (channels averaged), in [-1, 1]. */
  samples: Float32Array;
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  format: 'pcm' | 'float';
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

// Names for the codes people actually meet, so the error says more than a number.
const FORMAT_NAMES: Record<number, string> = {
  2: 'Microsoft ADPCM',
  6: 'A-law',
  7: 'mu-law',
  0x11: 'IMA ADPCM',
  0x31: 'GSM 6.10',
  0x55: 'MP3',
};

/** The fmt chunk: how the data chunk's frames are laid out. */
export interface WavFormat {
  format: 'pcm' | 'float';
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  blockAlign: number;
}

function fourcc(view: DataView, offset: number): string {
  return String.fromCharCode(
    view.getUint8(offset),
    view.getUint8(offset + 1),
    view.getUint8(offset + 2),
    view.getUint8(offset + 3),
  );
}

function parseFmt(view: DataView, offset: number, size: number): WavFormat {
  if (size < 16) throw new AudioFormatError('TRUNCATED_WAV', `WAV fmt chunk is ${size} bytes, need at least 16`);
  let tag = view.getUint16(offset, true);
  const channels = view.getUint16(offset + 2, true);
  const sampleRate = view.getUint32(offset + 4, true);
  const declaredAlign = view.getUint16(offset + 12, true);
  const bitsPerSample = view.getUint16(offset + 14, true);
  if (tag === WAVE_FORMAT_EXTENSIBLE) {
    if (size < 40) throw new AudioFormatError('TRUNCATED_WAV', `WAVE_FORMAT_EXTENSIBLE fmt chunk is ${size} bytes, need 40`);
    // The first two bytes of the SubFormat GUID carry the classic format tag.
    tag = view.getUint16(offset + 24, true);
  }
  if (tag !== WAVE_FORMAT_PCM && tag !== WAVE_FORMAT_IEEE_FLOAT) {
    const name = FORMAT_NAMES[tag] ?? `format tag 0x${tag.toString(16)}`;
    throw new AudioFormatError('UNSUPPORTED_WAV_FORMAT', `unsupported WAV encoding: ${name} (only PCM and IEEE float are read natively)`);
  }
  const format = tag === WAVE_FORMAT_PCM ? 'pcm' : 'float';
  // PCM of 1..32 bits sits left-justified in whole bytes, so e.g. 12-bit reads as 16-bit.
  const bitsOk = format === 'pcm' ? bitsPerSample >= 1 && bitsPerSample <= 32 : bitsPerSample === 32 || bitsPerSample === 64;
  if (!bitsOk) {
    throw new AudioFormatError('UNSUPPORTED_WAV_FORMAT', `unsupported WAV sample size: ${bitsPerSample}-bit ${format}`);
  }
  if (channels === 0) throw new AudioFormatError('UNSUPPORTED_WAV_FORMAT', 'WAV declares 0 channels');
  if (sampleRate < MIN_SAMPLE_RATE || sampleRate > MAX_SAMPLE_RATE) {
    // A header is 44 bytes: an absurd rate (1 Hz, 8 MHz) would make a tiny file into hours of audio or a huge filter.
    throw new AudioFormatError('UNSUPPORTED_SAMPLE_RATE', `WAV declares a sample rate of ${sampleRate} Hz; ${MIN_SAMPLE_RATE}-${MAX_SAMPLE_RATE} Hz is accepted`);
  }
  // Some writers leave blockAlign wrong; it can only be larger than the packed frame (padding).
  const blockAlign = Math.max(declaredAlign, channels * Math.ceil(bitsPerSample / 8));
  return { format, channels, sampleRate, bitsPerSample, blockAlign };
}

// Returns one sample of the frame at `offset` scaled to [-1, 1].
type SampleReader = (view: DataView, offset: number) => number;

function sampleReader(fmt: WavFormat): SampleReader {
  if (fmt.format === 'float') {
    return fmt.bitsPerSample === 32
      ? (v, o) => Math.max(-1, Math.min(1, v.getFloat32(o, true)))
      : (v, o) => Math.max(-1, Math.min(1, v.getFloat64(o, true)));
  }
  switch (Math.ceil(fmt.bitsPerSample / 8)) {
    case 1:
      return (v, o) => (v.getUint8(o) - 128) / 128; // 8-bit WAV is unsigned
    case 2:
      return (v, o) => v.getInt16(o, true) / 32768;
    case 3:
      return (v, o) => ((v.getUint8(o) | (v.getUint8(o + 1) << 8) | (v.getInt8(o + 2) << 16)) / 8388608);
    default:
      return (v, o) => v.getInt32(o, true) / 2147483648;
  }
}

export interface WavLayout {
  fmt: WavFormat;
  /** Byte range of the data chunk in the file. */
  dataStart: number;
  dataEnd: number;
}

/**
 * Finds the fmt and data chunks. `head` is the file's start (the whole file, or a prefix when it is read as a
 * stream) and `fileLength` its full length. Unknown chunks are skipped; a data size of 0 or 0xFFFFFFFF (written
 * by streaming recorders that never patched the header) or one running past the end of the file means "to end of
 * file".
 */
export function parseWavHeader(head: Uint8Array, fileLength = head.length): WavLayout {
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (head.length < 12 || fourcc(view, 0) !== 'RIFF' || fourcc(view, 8) !== 'WAVE') {
    throw new AudioFormatError('NOT_WAV', 'not a WAV file (no RIFF/WAVE header)');
  }
  let fmt: WavFormat | undefined;
  let dataStart = -1;
  let dataEnd = -1;
  let pos = 12;
  while (pos + 8 <= head.length) {
    const id = fourcc(view, pos);
    const size = view.getUint32(pos + 4, true);
    const body = pos + 8;
    if (id === 'data') {
      dataStart = body;
      const toEnd = size === 0 || size === 0xffffffff || body + size > fileLength;
      dataEnd = toEnd ? fileLength : body + size;
      if (toEnd) break;
    } else if (id === 'fmt ') {
      if (body + size > head.length) {
        throw new AudioFormatError('TRUNCATED_WAV', body + size > fileLength ? 'WAV file ends inside its fmt chunk' : 'WAV fmt chunk is too large');
      }
      fmt = parseFmt(view, body, size);
    }
    pos = body + size + (size & 1); // chunks are padded to even length
  }
  if (fmt === undefined) {
    // 44 bytes is the smallest complete header (RIFF + fmt + data headers).
    throw new AudioFormatError('TRUNCATED_WAV', fileLength < 44 ? 'WAV file is truncated (header incomplete)' : 'WAV file has no fmt chunk');
  }
  if (dataStart < 0) throw new AudioFormatError('TRUNCATED_WAV', 'WAV file has no data chunk');
  return { fmt, dataStart, dataEnd };
}

/** Mono samples (channels averaged) of the whole frames in `bytes`, a piece of the data chunk starting on a frame. */
export function decodeWavFrames(fmt: WavFormat, bytes: Uint8Array): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { channels, blockAlign } = fmt;
  const bytesPerSample = Math.ceil(fmt.bitsPerSample / 8);
  const frames = Math.floor(bytes.length / blockAlign);
  const samples = new Float32Array(frames);
  const read = sampleReader(fmt);
  for (let f = 0, o = 0; f < frames; f++, o += blockAlign) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += read(view, o + c * bytesPerSample);
    samples[f] = sum / channels;
  }
  return samples;
}

/** Reads a whole RIFF/WAVE file to mono float samples at the file's own rate. */
export function readWav(buf: Uint8Array): WavAudio {
  const { fmt, dataStart, dataEnd } = parseWavHeader(buf);
  const samples = decodeWavFrames(fmt, buf.subarray(dataStart, dataEnd));
  return { samples, sampleRate: fmt.sampleRate, channels: fmt.channels, bitsPerSample: fmt.bitsPerSample, format: fmt.format };
}

/** Encodes mono samples as a 16-bit PCM WAV (canonical 44-byte header). */
export function writeWav(samples: Float32Array, sampleRate: number): Buffer {
  const pcm = float32ToPcm16(samples);
  const dataBytes = pcm.length * 2;
  const out = Buffer.alloc(44 + dataBytes);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + dataBytes, 4);
  out.write('WAVE', 8, 'ascii');
  out.write('fmt ', 12, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(WAVE_FORMAT_PCM, 20);
  out.writeUInt16LE(1, 22);
  out.writeUInt32LE(sampleRate, 24);
  out.writeUInt32LE(sampleRate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < pcm.length; i++) out.writeInt16LE(pcm[i], 44 + i * 2);
  return out;
}
