import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ASR_SAMPLE_RATE } from '../../asr/engine.ts';
import { decodeAudioFile } from '../../audio/audio-file.ts';
import { AudioFormatError } from '../../audio/wav.ts';
import type { RecorderError } from '../../recorder/recorder.ts';
import type { TranscriptionService } from '../../pipeline/transcription-service.ts';
import { ApiError, sendApiError } from '../http-errors.ts';
import type { PipelineHost } from '../session-host.ts';
import type { UploadQueue } from '../upload-queue.ts';

/**
 * What every REST upload route (OpenAI's /v1/audio/transcriptions, Deepgram's pre-recorded /v1/listen) shares: a turn
 * in the one upload queue before the body is read, a session slot, the body in a temporary file, the same limits,
 * and the same errors (statuses, codes, Retry-After on capacity), all given back before the answer.
 */
export interface TranscriptionHost extends PipelineHost {
  /** The loaded service, or undefined while the models load (answered 503). */
  readyService(): TranscriptionService | undefined;
  readonly queue: UploadQueue;
  readonly maxUploadBytes: number;
  /** Deepgram's `{"url": …}` sources may be fetched (public addresses only); off by default. */
  readonly allowUrlSources?: boolean;
}

/** Longest decoded audio accepted (compressed uploads can hold hours in 25 MB). */
const MAX_AUDIO_SECONDS = 3 * 60 * 60;
/** Seconds a client refused for capacity is told to wait (a 30 s clip takes a few seconds). */
const RETRY_AFTER_SECONDS = '5';

export interface UploadJob {
  service: TranscriptionService;
  /** The temporary file the body goes to (removed after the answer). */
  tmp: string;
  /** Aborts when the client hangs up: stop working for it. */
  signal: AbortSignal;
}

export interface UploadRoute {
  /** Refusals that need no body and no turn (content type, declared length), thrown as ApiError. */
  precheck(): void;
  /** Reads the body to job.tmp and transcribes; returns the answer, sent once the turn and slot are given back. */
  work(job: UploadJob): Promise<() => void>;
  /** An error in the route's own shape (default: OpenAI's error body). */
  sendError?(error: ApiError, headers: Record<string, string>): void;
}

export async function runUpload(req: IncomingMessage, res: ServerResponse, host: TranscriptionHost, route: UploadRoute): Promise<void> {
  const status = (code: number) => host.metrics.httpTranscriptions.inc({ status: String(code) });
  // The client hung up before the answer (req.destroyed is no use: a fully read request is destroyed too).
  let gone = false;
  const hungUp = new AbortController();
  res.on('close', () => {
    if (res.writableEnded) return;
    gone = true;
    hungUp.abort();
  });
  const cleanup: Array<() => void | Promise<unknown>> = [];
  try {
    let answer: () => void;
    try {
      route.precheck();
      const service = host.readyService();
      if (!service) throw new ApiError(503, 'NOT_READY', 'the models are still loading; try again in a few seconds');
      const turn = host.queue.enter(hungUp.signal);
      if (!turn) {
        throw new ApiError(429, 'TOO_MANY_UPLOADS', `${host.queue.concurrency} uploads are being transcribed and ${host.queue.maxWaiting} are waiting; try again later`);
      }
      cleanup.push(await turn);
      const refused = host.acquireSlot();
      if (refused) throw new ApiError(refused.code === 'CLIENT_LIMIT' ? 429 : 503, refused.code, refused.message);
      cleanup.push(() => host.releaseSlot());
      const tmp = path.join(os.tmpdir(), `earshot-upload-${randomUUID()}`);
      cleanup.push(() => fs.rm(tmp, { force: true }));
      answer = await route.work({ service, tmp, signal: hungUp.signal });
    } finally {
      for (const undo of cleanup.reverse()) await undo();
    }
    answer();
    status(200);
  } catch (e) {
    const error = asApiError(e);
    if (error) {
      host.metrics.errors.inc({ code: error.code });
      status(error.status);
      const capacity = error.status === 503 || error.status === 429;
      const headers: Record<string, string> = capacity ? { 'Retry-After': RETRY_AFTER_SECONDS, Connection: 'close' } : {};
      if (route.sendError) route.sendError(error, headers);
      else sendApiError(res, error.status, error.code, error.message, headers);
      if (error.status === 413) req.resume();
      return;
    }
    if (gone) return; // left the queue, or hung up mid-upload: nobody to answer
    host.log.error({ err: e }, 'transcription request failed');
    host.metrics.errors.inc({ code: 'INTERNAL_ERROR' });
    status(500);
    const internal = new ApiError(500, 'INTERNAL_ERROR', 'internal error');
    if (route.sendError) route.sendError(internal, {});
    else sendApiError(res, 500, internal.code, internal.message);
  }
}

/** The upload's audio at 16 kHz, a few seconds at a time; header and duration errors are thrown before the first. */
export async function openAudio(tmp: string): Promise<AsyncGenerator<Float32Array>> {
  const audio = decodeAudioFile(tmp, ASR_SAMPLE_RATE, { maxSeconds: MAX_AUDIO_SECONDS });
  const first = await audio.next();
  return (async function* () {
    if (first.done) return;
    yield first.value;
    yield* audio;
  })();
}

/** A recorder's errors as the upload's answer: a timeout is 504, anything else 500. */
export function failedUpload(errors: RecorderError[]): ApiError | undefined {
  if (errors.length === 0) return undefined;
  const timeout = errors.some((e) => e.code === 'PROCESSING_TIMEOUT');
  return new ApiError(timeout ? 504 : 500, timeout ? 'PROCESSING_TIMEOUT' : 'TRANSCRIPTION_FAILED', errors.map((e) => e.message).join('; '));
}

function asApiError(e: unknown): ApiError | undefined {
  if (e instanceof ApiError) return e;
  if (!(e instanceof AudioFormatError)) return undefined;
  const status = e.code === 'FFMPEG_MISSING' ? 415 : e.code === 'AUDIO_TOO_LONG' ? 413 : 400;
  // Never show the server's temp file path: every mention of it (ffmpeg repeats it) becomes "the upload".
  return new ApiError(status, e.code, e.message.replace(/(file:)?\S*earshot-upload-[0-9a-f-]+/g, 'the upload'));
}
