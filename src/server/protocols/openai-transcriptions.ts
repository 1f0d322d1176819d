import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { decodeAudioFile } from '../../audio/audio-file.ts';
import { AudioFormatError } from '../../audio/wav.ts';
import { ASR_SAMPLE_RATE } from '../../asr/engine.ts';
import { KeytermError, openaiKeyterms, type Keyterm } from '../../asr/keyterms.ts';
import { transcribe, type Transcription } from '../../pipeline/transcribe.ts';
import type { FinalTranscript } from '../../recorder/recorder.ts';
import type { TimedWord } from '../../recorder/word-timestamps.ts';
import type { RecorderConfig } from '../../recorder/recorder-config.ts';
import type { Recorder } from '../../recorder/recorder.ts';
import type { TranscriptionService } from '../../pipeline/transcription-service.ts';
import { ApiError, apiErrorBody, sendApiError } from '../http-errors.ts';
import { sessionKeyterms } from '../session-keyterms.ts';
import type { Logger } from '../logger.ts';
import type { ServerMetrics } from '../metrics.ts';
import type { SlotRefusal } from '../transcription-session.ts';
import type { UploadQueue } from '../upload-queue.ts';
import { checkRequest, receiveUpload } from './multipart-upload.ts';

export interface TranscriptionHost {
  /** The loaded service, or undefined while the models load (answered 503). */
  readyService(): TranscriptionService | undefined;
  /** A session slot for the uploading client; the refusal when none is left. */
  acquireSlot(): SlotRefusal | undefined;
  releaseSlot(): void;
  readonly queue: UploadQueue;
  readonly maxUploadBytes: number;
  readonly metrics: ServerMetrics;
  readonly log: Logger;
  readonly recorderConfig?: Partial<RecorderConfig>;
  /** The operator's keyterms (EARSHOT_KEYTERMS_FILE), added to every upload's. */
  readonly keyterms?: Keyterm[];
}

export type ResponseFormat = 'json' | 'text' | 'verbose_json' | 'srt' | 'vtt';
const FORMATS: readonly ResponseFormat[] = ['json', 'text', 'verbose_json', 'srt', 'vtt'];

/** Longest decoded audio accepted (compressed uploads can hold hours in 25 MB). */
const MAX_AUDIO_SECONDS = 3 * 60 * 60;
/** Seconds a client refused for capacity is told to wait (a 30 s clip takes a few seconds). */
const RETRY_AFTER_SECONDS = '5';

/**
 * POST /v1/audio/transcriptions, OpenAI-compatible: multipart/form-data with `file` (WAV natively, other formats via
 * ffmpeg when installed), optional `model` (any value accepted; the server's model answers), `language` (en only),
 * `response_format` json (default) | text | verbose_json | srt | vtt, `timestamp_granularities[]` word and/or segment
 * (verbose_json), `stream` true for server-sent events (`transcript.text.delta` per segment as it is transcribed, then
 * `transcript.text.done`), `keywords` (repeatable, or comma-separated; "word" or "word:weight") and `prompt` (its names
 * and uncommon words) as keyterms (docs/keyterms.md). The audio goes through the same Recorder as a live stream (realtime partials off), so long
 * files are segmented at pauses; each final is one segment.
 *
 * Memory per upload does not grow with the file: uploads wait for a turn in the queue before their body is read,
 * the body goes to a temporary file, and the audio is decoded from it a few seconds at a time at 16 kHz.
 */
export async function handleTranscription(req: IncomingMessage, res: ServerResponse, host: TranscriptionHost): Promise<void> {
  const status = (code: number) => host.metrics.httpTranscriptions.inc({ status: String(code) });
  // The client hung up before the answer (req.destroyed is no use: a fully read request is destroyed too).
  let gone = false;
  const hungUp = new AbortController();
  res.on('close', () => {
    if (res.writableEnded) return;
    gone = true;
    hungUp.abort();
  });
  try {
    const done = await transcribeUpload(req, res, host, hungUp.signal);
    const { result } = done;
    if (result.errors.length > 0) {
      const timeout = result.errors.some((e) => e.code === 'PROCESSING_TIMEOUT');
      throw new ApiError(timeout ? 504 : 500, timeout ? 'PROCESSING_TIMEOUT' : 'TRANSCRIPTION_FAILED', result.errors.map((e) => e.message).join('; '));
    }
    if (done.events) {
      done.events({ type: 'transcript.text.done', text: result.finals.map((s) => s.text).join(' ') });
      res.end();
    } else {
      respond(res, done.format, result.finals, result.seconds, result.words);
    }
    status(200);
  } catch (e) {
    const error = asApiError(e);
    if (error) {
      host.metrics.errors.inc({ code: error.code });
      status(error.status);
      if (res.headersSent && !res.writableEnded) {
        // Inside an event stream: the error as an event (the openai SDK raises it), then the end.
        res.end(`data: ${JSON.stringify({ type: 'error', error: apiErrorBody(error.status, error.code, error.message) })}\n\n`);
        return;
      }
      const capacity = error.status === 503 || error.status === 429;
      sendApiError(res, error.status, error.code, error.message, capacity ? { 'Retry-After': RETRY_AFTER_SECONDS, Connection: 'close' } : {});
      if (error.status === 413) req.resume();
      return;
    }
    if (gone) return; // left the queue, or hung up mid-upload: nobody to answer
    host.log.error({ err: e }, 'transcription request failed');
    host.metrics.errors.inc({ code: 'INTERNAL_ERROR' });
    status(500);
    sendApiError(res, 500, 'INTERNAL_ERROR', 'internal error');
  }
}

/** Queue turn, session slot, body to a temporary file, decode and transcribe; all of it given back before the answer. */
async function transcribeUpload(
  req: IncomingMessage,
  res: ServerResponse,
  host: TranscriptionHost,
  hungUp: AbortSignal,
): Promise<{ format: ResponseFormat; result: Transcription; events?: (event: Record<string, unknown>) => void }> {
  const cleanup: Array<() => void | Promise<unknown>> = [];
  try {
    checkRequest(req, host.maxUploadBytes);
    const service = host.readyService();
    if (!service) throw new ApiError(503, 'NOT_READY', 'the models are still loading; try again in a few seconds');
    const turn = host.queue.enter(hungUp);
    if (!turn) {
      throw new ApiError(429, 'TOO_MANY_UPLOADS', `${host.queue.concurrency} uploads are being transcribed and ${host.queue.maxWaiting} are waiting; try again later`);
    }
    cleanup.push(await turn);
    const refused = host.acquireSlot();
    if (refused) throw new ApiError(refused.code === 'CLIENT_LIMIT' ? 429 : 503, refused.code, refused.message);
    cleanup.push(() => host.releaseSlot());
    const tmp = path.join(os.tmpdir(), `earshot-upload-${randomUUID()}`);
    cleanup.push(() => fs.rm(tmp, { force: true }));
    const upload = await receiveUpload(req, host.maxUploadBytes, tmp);
    const format = (upload.fields.response_format || 'json') as ResponseFormat;
    if (!FORMATS.includes(format)) {
      throw new ApiError(400, 'UNSUPPORTED_RESPONSE_FORMAT', `response_format must be one of ${FORMATS.join(', ')} (got "${upload.fields.response_format}")`);
    }
    const language = upload.fields.language?.trim().toLowerCase();
    if (language && language !== 'en' && language !== 'english') {
      throw new ApiError(400, 'UNSUPPORTED_LANGUAGE', `only English ("en") is supported (got "${upload.fields.language}")`);
    }
    if (!upload.file) throw new ApiError(400, 'MISSING_FILE', 'the form has no "file" part with the audio');
    const keyterms = await uploadKeyterms(upload.keywords, upload.fields.prompt, host);
    const audio = decodeAudioFile(tmp, ASR_SAMPLE_RATE, { maxSeconds: MAX_AUDIO_SECONDS });
    const first = await audio.next(); // header and duration checks answer with a plain error, before any event
    const events = parseBoolean(upload.fields.stream) ? startEventStream(res) : undefined;
    const result = await transcribe(service, prepend(first, audio), {
      sessionId: `http-${randomUUID()}`,
      config: host.recorderConfig,
      signal: hungUp,
      words: upload.granularities.includes('word'),
      keyterms,
      onFinal: (final, i) => events?.({ type: 'transcript.text.delta', delta: i === 0 ? final.text : ` ${final.text}` }),
      observe: (recorder) => observeGain(recorder, host),
    });
    return { format, result, events };
  } finally {
    for (const undo of cleanup.reverse()) await undo();
  }
}

/** The upload's input gain in /metrics, as a session's; no field of the API carries the too-quiet notice: a log line. */
function observeGain(recorder: Recorder, host: TranscriptionHost): void {
  if (!recorder.config.agc) return;
  recorder.on('recordingStop', () => host.metrics.inputGain.observe(recorder.inputGainDb));
  recorder.on('inputTooQuiet', ({ gainDb }) => host.log.warn({ gainDb: Math.round(gainDb) }, 'upload too quiet even at the most input gain'));
}

/** `keywords` (a list past the limits is refused: 400 BAD_KEYTERMS, invalid_request_error) and `prompt`'s words. */
async function uploadKeyterms(keywords: string[], prompt: string | undefined, host: TranscriptionHost) {
  const refuse = (message: string): never => {
    throw new ApiError(400, 'BAD_KEYTERMS', message);
  };
  let terms: ReturnType<typeof openaiKeyterms>;
  try {
    terms = openaiKeyterms(keywords.flatMap((k) => k.split(',')).map((k) => k.trim()).filter(Boolean), prompt);
  } catch (e) {
    if (e instanceof KeytermError) refuse(e.message);
    throw e;
  }
  const { keywords: own, fromPrompt } = terms;
  // The prompt's words never refuse an upload: where they do not compile (a character the vocabulary lacks, over 500
  // tokens with the keywords), the keywords go alone.
  return (fromPrompt.length ? await sessionKeyterms([...own, ...fromPrompt], host, () => {}) : undefined) ?? sessionKeyterms(own, host, refuse);
}

/** The first result of a generator already taken, then the rest. */
async function* prepend(first: IteratorResult<Float32Array>, rest: AsyncGenerator<Float32Array>): AsyncGenerator<Float32Array> {
  if (first.done) return;
  yield first.value;
  yield* rest;
}

function asApiError(e: unknown): ApiError | undefined {
  if (e instanceof ApiError) return e;
  if (!(e instanceof AudioFormatError)) return undefined;
  const status = e.code === 'FFMPEG_MISSING' ? 415 : e.code === 'AUDIO_TOO_LONG' ? 413 : 400;
  // Never show the server's temp file path: every mention of it (ffmpeg repeats it) becomes "the upload".
  return new ApiError(status, e.code, e.message.replace(/(file:)?\S*earshot-upload-[0-9a-f-]+/g, 'the upload'));
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

function respond(res: ServerResponse, format: ResponseFormat, segments: FinalTranscript[], duration: number, words: TimedWord[] | undefined): void {
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
        ...(words ? { words } : {}),
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
