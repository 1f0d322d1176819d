import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import busboy from 'busboy';
import { loadAudioFile } from '../audio/audio-file.ts';
import { resample } from '../audio/resample.ts';
import { AudioFormatError, readWav } from '../audio/wav.ts';
import { ASR_SAMPLE_RATE } from '../asr/engine.ts';
import type { FinalTranscript, RecorderError } from '../recorder/recorder.ts';
import { wordTimestamps } from '../recorder/word-timestamps.ts';
import type { RecorderConfig } from '../recorder/recorder-config.ts';
import type { TranscriptionService } from '../recorder/transcription-service.ts';
import type { Logger } from './logger.ts';
import type { ServerMetrics } from './metrics.ts';

export interface TranscriptionHost {
  /** The loaded service, or undefined while the models load (answered 503). */
  readyService(): TranscriptionService | undefined;
  acquireSlot(): boolean;
  releaseSlot(): void;
  readonly maxUploadBytes: number;
  readonly metrics: ServerMetrics;
  readonly log: Logger;
  readonly recorderConfig?: Partial<RecorderConfig>;
}

export type ResponseFormat = 'json' | 'text' | 'verbose_json' | 'srt' | 'vtt';
const FORMATS: readonly ResponseFormat[] = ['json', 'text', 'verbose_json', 'srt', 'vtt'];

/** Longest decoded audio accepted (compressed uploads can hold hours in 25 MB). */
const MAX_AUDIO_SECONDS = 3 * 60 * 60;
/** Finals of one upload in the shared scheduler at once, so that a long file does not starve live sessions. */
const MAX_OUTSTANDING_FINALS = 2;
/** Audio fed to the recorder per step. */
const FEED_SECONDS = 1;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** OpenAI-style error body: {"error": {"message", "type", "code"}}. */
export function sendApiError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', code } });
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

interface Upload {
  file?: Buffer;
  filename?: string;
  fields: Record<string, string>;
  /** `timestamp_granularities[]` may be given more than once. */
  granularities: string[];
}

/**
 * POST /v1/audio/transcriptions, OpenAI-compatible: multipart/form-data with `file` (WAV natively, other formats via
 * ffmpeg when installed), optional `model` (any value accepted; the server's model answers), `language` (en only),
 * `response_format` json (default) | text | verbose_json | srt | vtt, `timestamp_granularities[]` word and/or segment
 * (verbose_json), `stream` true for server-sent events (`transcript.text.delta` per segment as it is transcribed, then
 * `transcript.text.done`). The audio goes through the same Recorder as a live stream (realtime partials off), so long
 * files are segmented at pauses; each final is one segment.
 */
export async function handleTranscription(req: IncomingMessage, res: ServerResponse, host: TranscriptionHost): Promise<void> {
  const status = (code: number) => host.metrics.httpTranscriptions.inc({ status: String(code) });
  // The client hung up before the answer (req.destroyed is no use: a fully read request is destroyed too).
  let gone = false;
  res.on('close', () => {
    if (!res.writableEnded) gone = true;
  });
  try {
    const upload = await readUpload(req, host.maxUploadBytes);
    const format = (upload.fields.response_format || 'json') as ResponseFormat;
    if (!FORMATS.includes(format)) {
      throw new ApiError(400, 'UNSUPPORTED_RESPONSE_FORMAT', `response_format must be one of ${FORMATS.join(', ')} (got "${upload.fields.response_format}")`);
    }
    const language = upload.fields.language?.trim().toLowerCase();
    if (language && language !== 'en' && language !== 'english') {
      throw new ApiError(400, 'UNSUPPORTED_LANGUAGE', `only English ("en") is supported (got "${upload.fields.language}")`);
    }
    if (!upload.file) throw new ApiError(400, 'MISSING_FILE', 'the form has no "file" part with the audio');
    const service = host.readyService();
    if (!service) throw new ApiError(503, 'NOT_READY', 'the models are still loading; try again in a few seconds');
    const stream = parseBoolean(upload.fields.stream);
    const words = upload.granularities.includes('word');
    const samples = await decodeUpload(upload.file, upload.filename);
    if (!host.acquireSlot()) throw new ApiError(503, 'OVERLOADED', 'the server is at its maximum number of sessions; try again later');
    let result: { segments: FinalTranscript[]; errors: RecorderError[] };
    const events = stream ? startEventStream(res) : undefined;
    try {
      result = await transcribeSamples(service, samples, host.recorderConfig, () => gone, (segment, i) => events?.({ type: 'transcript.text.delta', delta: i === 0 ? segment.text : ` ${segment.text}` }));
    } finally {
      host.releaseSlot();
    }
    if (result.errors.length > 0) {
      const timeout = result.errors.some((e) => e.code === 'PROCESSING_TIMEOUT');
      throw new ApiError(timeout ? 504 : 500, timeout ? 'PROCESSING_TIMEOUT' : 'TRANSCRIPTION_FAILED', result.errors.map((e) => e.message).join('; '));
    }
    if (events) {
      events({ type: 'transcript.text.done', text: result.segments.map((s) => s.text).join(' ') });
      res.end();
    } else {
      respond(res, format, result.segments, samples, words);
    }
    status(200);
  } catch (e) {
    if (e instanceof ApiError) {
      host.metrics.errors.inc({ code: e.code });
      status(e.status);
      if (res.headersSent && !res.writableEnded) {
        // Inside an event stream: the error as an event (the openai SDK raises it), then the end.
        res.end(`data: ${JSON.stringify({ type: 'error', error: { message: e.message, type: e.status >= 500 ? 'server_error' : 'invalid_request_error', code: e.code } })}\n\n`);
        return;
      }
      sendApiError(res, e.status, e.code, e.message, e.status === 503 ? { 'Retry-After': '5' } : {});
      if (e.status === 413) req.resume();
      return;
    }
    host.log.error({ err: e }, 'transcription request failed');
    host.metrics.errors.inc({ code: 'INTERNAL_ERROR' });
    status(500);
    sendApiError(res, 500, 'INTERNAL_ERROR', 'internal error');
  }
}

/** Parses the multipart body; the file is buffered in memory up to `maxBytes`. */
function readUpload(req: IncomingMessage, maxBytes: number): Promise<Upload> {
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\b/i.test(type)) {
    return Promise.reject(new ApiError(400, 'BAD_REQUEST', 'expected a multipart/form-data body with the audio in a "file" field'));
  }
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes + 64 * 1024) {
    return Promise.reject(new ApiError(413, 'FILE_TOO_LARGE', `upload of ${declared} bytes is over the limit of ${maxBytes} bytes`));
  }
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { fileSize: maxBytes, files: 1, fields: 32, fieldSize: 64 * 1024, parts: 40 } });
    } catch (e) {
      reject(new ApiError(400, 'BAD_REQUEST', `bad multipart body: ${(e as Error).message}`));
      return;
    }
    const upload: Upload = { fields: {}, granularities: [] };
    let failure: ApiError | undefined;
    let received = 0;
    bb.on('file', (name, stream, info) => {
      if (name !== 'file') {
        stream.resume();
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        received += chunk.length;
        chunks.push(chunk);
      });
      stream.on('limit', () => {
        failure ??= new ApiError(413, 'FILE_TOO_LARGE', `file is over the upload limit of ${maxBytes} bytes`);
        chunks.length = 0;
      });
      stream.on('end', () => {
        if (!failure) {
          upload.file = Buffer.concat(chunks, received);
          upload.filename = info.filename;
        }
      });
    });
    bb.on('field', (name, value) => {
      if (name === 'timestamp_granularities[]' || name === 'timestamp_granularities') upload.granularities.push(value);
      else upload.fields[name] = value;
    });
    bb.on('error', (e: Error) => reject(failure ?? new ApiError(400, 'BAD_REQUEST', `bad multipart body: ${e.message}`)));
    bb.on('close', () => (failure ? reject(failure) : resolve(upload)));
    req.on('error', (e) => reject(new ApiError(400, 'BAD_REQUEST', `request failed: ${e.message}`)));
    req.pipe(bb);
  });
}

/** WAV is decoded here; anything else (or a WAV codec readWav does not know) goes through ffmpeg via a temp file. */
async function decodeUpload(file: Buffer, filename: string | undefined): Promise<Float32Array> {
  let samples: Float32Array;
  try {
    const isWav = file.length >= 12 && file.toString('latin1', 0, 4) === 'RIFF' && file.toString('latin1', 8, 12) === 'WAVE';
    if (isWav) {
      try {
        const wav = readWav(file);
        samples = resample(wav.samples, wav.sampleRate, ASR_SAMPLE_RATE);
      } catch (e) {
        if (!(e instanceof AudioFormatError && e.code === 'UNSUPPORTED_WAV_FORMAT')) throw e;
        samples = await viaFfmpeg(file, filename);
      }
    } else {
      samples = await viaFfmpeg(file, filename);
    }
  } catch (e) {
    if (e instanceof AudioFormatError) {
      const status = e.code === 'FFMPEG_MISSING' ? 415 : 400;
      // Never show the server's temp file path: every mention of it (ffmpeg repeats it) becomes "the upload".
      throw new ApiError(status, e.code, e.message.replace(/(file:)?\S*earshot-upload-[0-9a-f-]+(\.[a-zA-Z0-9]*)?/g, 'the upload'));
    }
    throw e;
  }
  if (samples.length / ASR_SAMPLE_RATE > MAX_AUDIO_SECONDS) {
    throw new ApiError(413, 'AUDIO_TOO_LONG', `audio is over ${MAX_AUDIO_SECONDS / 3600} hours long`);
  }
  return samples;
}

async function viaFfmpeg(file: Buffer, filename: string | undefined): Promise<Float32Array> {
  const ext = path.extname(filename ?? '').replace(/[^.a-zA-Z0-9]/g, '').slice(0, 8);
  const tmp = path.join(os.tmpdir(), `earshot-upload-${randomUUID()}${ext}`);
  await fs.writeFile(tmp, file);
  try {
    return (await loadAudioFile(tmp, ASR_SAMPLE_RATE)).samples;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * Runs 16 kHz samples through a fresh Recorder (no partials) and collects its finals. Audio is fed a second at a time
 * and feeding pauses while MAX_OUTSTANDING_FINALS finals are pending, so that one long upload shares the scheduler.
 */
export async function transcribeSamples(
  service: TranscriptionService,
  samples: Float32Array,
  config: Partial<RecorderConfig> = {},
  cancelled: () => boolean = () => false,
  onSegment?: (segment: FinalTranscript, index: number) => void,
): Promise<{ segments: FinalTranscript[]; errors: RecorderError[] }> {
  const recorder = await service.createRecorder(`http-${randomUUID()}`, { ...config, enableRealtimeTranscription: false });
  const segments: FinalTranscript[] = [];
  const errors: RecorderError[] = [];
  let outstanding = 0;
  let wake: (() => void) | undefined;
  const settled = () => {
    outstanding--;
    wake?.();
  };
  recorder.on('recordingStop', () => outstanding++);
  recorder.on('transcriptionFinished', (f) => {
    segments.push(f);
    onSegment?.(f, segments.length - 1);
    settled();
  });
  recorder.on('utteranceDiscarded', settled);
  recorder.on('error', (e) => {
    errors.push(e);
    if (e.utterance !== undefined) settled();
    else wake?.();
  });
  try {
    recorder.start();
    const step = FEED_SECONDS * ASR_SAMPLE_RATE;
    for (let i = 0; i < samples.length; i += step) {
      if (cancelled()) {
        recorder.abort();
        return { segments, errors };
      }
      recorder.feedAudio(samples.subarray(i, i + step), ASR_SAMPLE_RATE);
      await recorder.drain();
      while (outstanding >= MAX_OUTSTANDING_FINALS && errors.length === 0) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    }
    await recorder.stop();
    return { segments, errors };
  } finally {
    recorder.shutdown();
  }
}

/** Server-sent events: headers now, then one `data:` line per event. */
function startEventStream(res: ServerResponse): (event: Record<string, unknown>) => void {
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store', 'X-Accel-Buffering': 'no' });
  return (event) => {
    if (!res.writableEnded) res.write(`data: ${JSON.stringify(event)}\n\n`);
  };
}

function parseBoolean(v: string | undefined): boolean {
  return v !== undefined && /^(true|1|yes)$/i.test(v.trim());
}

function respond(res: ServerResponse, format: ResponseFormat, segments: FinalTranscript[], samples: Float32Array, words: boolean): void {
  const duration = samples.length / ASR_SAMPLE_RATE;
  const text = segments.map((s) => s.text).join(' ');
  let body: string;
  let type = 'application/json; charset=utf-8';
  switch (format) {
    case 'json':
      body = JSON.stringify({ text });
      break;
    case 'verbose_json':
      body = JSON.stringify({
        task: 'transcribe',
        language: 'english',
        duration: round3(duration),
        text,
        segments: segments.map((s, id) => ({ id, start: round3(s.start), end: round3(s.end), text: s.text })),
        ...(words ? { words: segments.flatMap((s) => wordTimestamps(samples, ASR_SAMPLE_RATE, s.start, s.end, s.text)) } : {}),
      });
      break;
    case 'text':
      type = 'text/plain; charset=utf-8';
      body = `${text}\n`;
      break;
    case 'srt':
      type = 'text/plain; charset=utf-8';
      body = segments.map((s, i) => `${i + 1}\n${timestamp(s.start, ',')} --> ${timestamp(s.end, ',')}\n${s.text}\n`).join('\n');
      break;
    case 'vtt':
      type = 'text/vtt; charset=utf-8';
      body = `WEBVTT\n\n${segments.map((s) => `${timestamp(s.start, '.')} --> ${timestamp(s.end, '.')}\n${s.text}\n`).join('\n')}`;
      break;
  }
  res.writeHead(200, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

function timestamp(seconds: number, sep: string): string {
  const ms = Math.max(0, Math.round(seconds * 1000));
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(h)}:${pad(m)}:${pad(s)}${sep}${pad(ms % 1000, 3)}`;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
