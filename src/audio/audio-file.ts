// Loads an audio file as mono float samples at the model rate: WAV natively, anything else via ffmpeg.

import { spawn } from 'node:child_process';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { resample } from './resample.ts';
import { AudioFormatError, readWav } from './wav.ts';

export interface LoadedAudio {
  samples: Float32Array;
  sampleRate: number;
  durationSeconds: number;
}

export interface LoadAudioOptions {
  /** ffmpeg executable, looked up on PATH unless it contains a slash. Default 'ffmpeg'. */
  ffmpeg?: string;
}

// Keeps the end of ffmpeg's stderr for error messages without buffering unbounded output.
const STDERR_KEEP = 4096;

function isWav(header: Uint8Array): boolean {
  const tag = (o: number) => String.fromCharCode(header[o], header[o + 1], header[o + 2], header[o + 3]);
  return header.length >= 12 && tag(0) === 'RIFF' && tag(8) === 'WAVE';
}

// Reads the first 12 bytes: enough to tell a WAV, without reading a long MP3 we hand to ffmpeg.
async function readHeader(path: string): Promise<Uint8Array> {
  let file: FileHandle;
  try {
    file = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new AudioFormatError('FILE_NOT_FOUND', `${path}: no such file`);
    }
    throw err;
  }
  try {
    const header = new Uint8Array(12);
    const { bytesRead } = await file.read(header, 0, 12, 0);
    return header.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

function decodeWithFfmpeg(path: string, targetRate: number, ffmpeg: string, whyFfmpeg: string): Promise<Float32Array> {
  return new Promise((resolve, reject) => {
    // 'file:' keeps names like "a:b.mp3" or "-x.ogg" from being read as a protocol or option.
    const args = ['-nostdin', '-hide_banner', '-loglevel', 'error', '-i', `file:${path}`, '-f', 'f32le', '-ac', '1', '-ar', String(targetRate), '-'];
    const child = spawn(ffmpeg, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let bytes = 0;
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      bytes += chunk.length;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (text: string) => {
      stderr = (stderr + text).slice(-STDERR_KEEP);
    });
    child.on('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new AudioFormatError('FFMPEG_MISSING', `${path} ${whyFfmpeg}; install ffmpeg to read other formats (apt-get install ffmpeg)`)
          : err,
      );
    });
    child.on('close', (code, signal) => {
      if (code !== 0) {
        const detail = stderr.trim().split('\n').pop() || (signal ? `killed by ${signal}` : `exit code ${code}`);
        reject(new AudioFormatError('NOT_AUDIO', `${path} is not a readable audio file (ffmpeg: ${detail})`));
        return;
      }
      // Copied into a fresh Float32Array: pooled Buffers may sit at offsets not divisible by 4.
      const samples = new Float32Array(bytes >> 2);
      const target = new Uint8Array(samples.buffer);
      let offset = 0;
      for (const chunk of chunks) {
        const n = Math.min(chunk.length, target.length - offset);
        target.set(n === chunk.length ? chunk : chunk.subarray(0, n), offset);
        offset += n;
      }
      resolve(samples);
    });
  });
}

/**
 * Loads `path` as mono samples at `targetRate`. The format is told by the file's header, not its
 * name. WAV (PCM/float) is decoded here; other formats, and WAV codecs such as ADPCM, go through
 * ffmpeg when it is installed. Errors are AudioFormatError with code FILE_NOT_FOUND,
 * FFMPEG_MISSING, NOT_AUDIO, or one of readWav's.
 */
export async function loadAudioFile(path: string, targetRate = 16000, options: LoadAudioOptions = {}): Promise<LoadedAudio> {
  const ffmpeg = options.ffmpeg ?? 'ffmpeg';
  let samples: Float32Array;
  if (isWav(await readHeader(path))) {
    try {
      const wav = readWav(await readFile(path));
      samples = resample(wav.samples, wav.sampleRate, targetRate);
    } catch (err) {
      if (!(err instanceof AudioFormatError && err.code === 'UNSUPPORTED_WAV_FORMAT')) throw err;
      samples = await decodeWithFfmpeg(path, targetRate, ffmpeg, `uses a WAV encoding not read natively (${err.message})`);
    }
  } else {
    samples = await decodeWithFfmpeg(path, targetRate, ffmpeg, 'is not a WAV file');
  }
  return { samples, sampleRate: targetRate, durationSeconds: samples.length / targetRate };
}
