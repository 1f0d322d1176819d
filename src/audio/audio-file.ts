// Decodes an audio file to mono float samples at the model rate, as a stream of chunks: WAV natively, anything
// else via ffmpeg. Memory does not grow with the audio's length.

import { spawn } from 'node:child_process';
import { open, type FileHandle } from 'node:fs/promises';
import { Pcm16Stream } from './pcm.ts';
import { MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from '../protocol/seed-messages.ts';
import { prepareResampler, StreamingResampler } from './resample.ts';
import { AudioFormatError, decodeWavFrames, parseWavHeader, type WavLayout } from './wav.ts';

export interface LoadedAudio {
  samples: Float32Array;
  sampleRate: number;
  durationSeconds: number;
}

export interface LoadAudioOptions {
  /** ffmpeg executable, looked up on PATH unless it contains a slash. Default 'ffmpeg'. */
  ffmpeg?: string;
  /** Longest audio accepted: longer input fails with AUDIO_TOO_LONG, before decoding when its length is known. */
  maxSeconds?: number;
}

// Keeps the end of ffmpeg's stderr for error messages without buffering unbounded output.
const STDERR_KEEP = 4096;
// ffmpeg describes its input (duration, rate) in the first few KB of its log.
const HEADER_KEEP = 16384;
// A WAV's chunks before its data (fmt, LIST, ...) are looked for in this much of its start.
const WAV_HEAD_BYTES = 256 * 1024;
// Bytes of a WAV's data chunk read per step (~0.7 s of 48 kHz stereo 16-bit).
const WAV_READ_BYTES = 128 * 1024;

function isWav(header: Uint8Array): boolean {
  const tag = (o: number) => String.fromCharCode(header[o], header[o + 1], header[o + 2], header[o + 3]);
  return header.length >= 12 && tag(0) === 'RIFF' && tag(8) === 'WAVE';
}

async function openAudio(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new AudioFormatError('FILE_NOT_FOUND', `${path}: no such file`);
    throw err;
  }
}

function tooLong(seconds: number, maxSeconds: number): AudioFormatError {
  return new AudioFormatError('AUDIO_TOO_LONG', `audio is ${formatDuration(seconds)} long, over the limit of ${formatDuration(maxSeconds)}`);
}

/** 3:00:00 or 3:00:00.4 (tenths when there are some, so that just over a limit does not read as the limit). */
function formatDuration(seconds: number): string {
  const tenths = Math.floor(seconds * 10);
  const s = Math.floor(tenths / 10) % 60;
  const text = `${Math.floor(seconds / 3600)}:${String(Math.floor(seconds / 60) % 60).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return tenths % 10 === 0 ? text : `${text}.${tenths % 10}`;
}

/**
 * Decodes `path` to mono samples at `targetRate`, chunk by chunk (a few seconds at most each). The format is told
 * by the file's header, not its name. WAV (PCM/float) is read here; other formats, and WAV codecs such as ADPCM,
 * go through ffmpeg (16-bit PCM at the target rate, piped) when it is installed. Sample rates outside 8-192 kHz
 * are refused. Errors are AudioFormatError with code FILE_NOT_FOUND, FFMPEG_MISSING, NOT_AUDIO,
 * UNSUPPORTED_SAMPLE_RATE, AUDIO_TOO_LONG, or one of parseWavHeader's.
 */
export async function* decodeAudioFile(path: string, targetRate = 16000, options: LoadAudioOptions = {}): AsyncGenerator<Float32Array> {
  const maxSeconds = options.maxSeconds ?? Infinity;
  let whyFfmpeg: string;
  const file = await openAudio(path);
  try {
    const size = (await file.stat()).size;
    const head = new Uint8Array(Math.min(size, WAV_HEAD_BYTES));
    await file.read(head, 0, head.length, 0);
    if (!isWav(head)) {
      whyFfmpeg = 'is not a WAV file';
    } else {
      let layout: WavLayout | undefined;
      try {
        layout = parseWavHeader(head, size);
      } catch (err) {
        if (!(err instanceof AudioFormatError && err.code === 'UNSUPPORTED_WAV_FORMAT')) throw err;
        whyFfmpeg = `uses a WAV encoding not read natively (${err.message})`;
      }
      if (layout) {
        yield* wavChunks(file, layout, targetRate, maxSeconds);
        return;
      }
    }
  } finally {
    await file.close();
  }
  yield* ffmpegChunks(path, targetRate, options.ffmpeg ?? 'ffmpeg', whyFfmpeg!, maxSeconds);
}

async function* wavChunks(file: FileHandle, { fmt, dataStart, dataEnd }: WavLayout, targetRate: number, maxSeconds: number): AsyncGenerator<Float32Array> {
  const seconds = Math.floor((dataEnd - dataStart) / fmt.blockAlign) / fmt.sampleRate;
  if (seconds > maxSeconds) throw tooLong(seconds, maxSeconds);
  await prepareResampler(fmt.sampleRate, targetRate);
  const resampler = new StreamingResampler(fmt.sampleRate, targetRate);
  const step = Math.max(1, Math.floor(WAV_READ_BYTES / fmt.blockAlign)) * fmt.blockAlign;
  const buf = new Uint8Array(step);
  for (let pos = dataStart; pos < dataEnd; ) {
    const { bytesRead } = await file.read(buf, 0, Math.min(step, dataEnd - pos), pos);
    if (bytesRead === 0) break;
    pos += bytesRead;
    const out = resampler.process(decodeWavFrames(fmt, buf.subarray(0, bytesRead)));
    if (out.length > 0) yield out;
  }
  const tail = resampler.flush();
  if (tail.length > 0) yield tail;
}

/** What ffmpeg's log says of its input before it decodes: duration and sample rate, when known. */
function describedInput(log: string): { seconds?: number; rate?: number } {
  const input = log.split(/^Output #0/m)[0]!;
  const d = /Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)/.exec(input);
  const r = /Audio: [^\n]*?, (\d+) Hz/.exec(input);
  return {
    seconds: d ? Number(d[1]) * 3600 + Number(d[2]) * 60 + Number(d[3]) : undefined,
    rate: r ? Number(r[1]) : undefined,
  };
}

async function* ffmpegChunks(path: string, targetRate: number, ffmpeg: string, whyFfmpeg: string, maxSeconds: number): AsyncGenerator<Float32Array> {
  // 'file:' keeps names like "a:b.mp3" or "-x.ogg" from being read as a protocol or option. The info log level
  // describes the input (duration, rate) before any audio comes out, so a file too long is refused at once.
  const args = ['-nostdin', '-hide_banner', '-nostats', '-loglevel', 'info', '-i', `file:${path}`, '-f', 's16le', '-ac', '1', '-ar', String(targetRate), '-'];
  const child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let head = '';
  let tail = '';
  let described!: () => void;
  const headerRead = new Promise<void>((resolve) => (described = resolve));
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (head.length < HEADER_KEEP) head += text;
    tail = (tail + text).slice(-STDERR_KEEP);
    if (/^(Stream mapping:|Output #0)/m.test(head) || head.length >= HEADER_KEEP) described();
  });
  child.stderr.on('end', () => described());
  const failed = new Promise<never>((_, reject) => {
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new AudioFormatError('FFMPEG_MISSING', `${path} ${whyFfmpeg}; install ffmpeg to read other formats (apt-get install ffmpeg)`)
          : err,
      );
    });
  });
  failed.catch(() => {});
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])));
  try {
    await Promise.race([headerRead, failed]);
    const input = describedInput(head);
    if (input.rate !== undefined && (input.rate < MIN_SAMPLE_RATE || input.rate > MAX_SAMPLE_RATE)) {
      throw new AudioFormatError('UNSUPPORTED_SAMPLE_RATE', `${path} has a sample rate of ${input.rate} Hz; ${MIN_SAMPLE_RATE}-${MAX_SAMPLE_RATE} Hz is accepted`);
    }
    if (input.seconds !== undefined && input.seconds > maxSeconds) throw tooLong(input.seconds, maxSeconds);
    const pcm = new Pcm16Stream();
    const limit = maxSeconds * targetRate;
    let samples = 0;
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      const out = pcm.push(chunk);
      samples += out.length;
      // The log's duration may be missing or wrong (raw streams, a lying header): counted as decoded too.
      if (samples > limit) throw tooLong(samples / targetRate, maxSeconds);
      yield out;
    }
    const [code, signal] = await Promise.race([exited, failed]);
    if (code !== 0) {
      const detail = tail.trim().split('\n').pop() || (signal ? `killed by ${signal}` : `exit code ${code}`);
      throw new AudioFormatError('NOT_AUDIO', `${path} is not a readable audio file (ffmpeg: ${detail})`);
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** Loads all of `path` as mono samples at `targetRate` (see decodeAudioFile). */
export async function loadAudioFile(path: string, targetRate = 16000, options: LoadAudioOptions = {}): Promise<LoadedAudio> {
  const chunks: Float32Array[] = [];
  let length = 0;
  for await (const chunk of decodeAudioFile(path, targetRate, options)) {
    chunks.push(chunk);
    length += chunk.length;
  }
  const samples = chunks.length === 1 ? chunks[0]! : new Float32Array(length);
  if (chunks.length !== 1) {
    let offset = 0;
    for (const c of chunks) {
      samples.set(c, offset);
      offset += c.length;
    }
  }
  return { samples, sampleRate: targetRate, durationSeconds: length / targetRate };
}
