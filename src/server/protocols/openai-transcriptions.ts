import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { KeytermError, openaiKeyterms } from '../../asr/keyterms.ts';
import { transcribe } from '../../pipeline/transcribe.ts';
import type { FinalTranscript, Recorder } from '../../recorder/recorder.ts';
import type { TimedWord } from '../../recorder/word-timestamps.ts';
import { ApiError, apiErrorBody, sendApiError } from '../http-errors.ts';
import { sessionKeyterms } from '../session-keyterms.ts';
import { checkRequest, receiveUpload } from './multipart-upload.ts';
import { failedUpload, openAudio, runUpload, type TranscriptionHost } from './upload-job.ts';
import { whisperSegment } from './whisper-segments.ts';

export type ResponseFormat = 'json' | 'text' | 'verbose_json' | 'srt' | 'vtt';
const FORMATS: readonly ResponseFormat[] = ['json', 'text', 'verbose_json', 'srt', 'vtt'];

/**
 * POST /v1/audio/transcriptions, OpenAI-compatible: multipart/form-data with `file` (WAV natively, other formats via
 * ffmpeg when installed), optional `model` (any value accepted; the server's model answers), `language` (en only),
 * `response_format` json (default) | text | verbose_json (Whisper's segments, every field: whisper-segments.ts) | srt
 * | vtt, `timestamp_granularities[]` word and/or segment (verbose_json), `stream` true for server-sent events
 * (`transcript.text.delta` per segment as it is transcribed, then `transcript.text.done`), `keywords` (repeatable, or
 * comma-separated; "word" or "word:weight") and `prompt` (its names and uncommon words) as keyterms
 * (docs/keyterms.md). The audio goes through the same Recorder as a live stream (realtime partials off), so long files
 * are segmented at pauses; each final is one segment. The queue, slot, limits and errors are the upload job's.
 */
export async function handleTranscription(req: IncomingMessage, res: ServerResponse, host: TranscriptionHost): Promise<void> {
  await runUpload(req, res, host, {
    precheck: () => checkRequest(req, host.maxUploadBytes),
    work: async ({ service, tmp, signal }) => {
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
      const audio = await openAudio(tmp); // header and duration checks answer with a plain error, before any event
      const events = parseBoolean(upload.fields.stream) ? startEventStream(res) : undefined;
      const result = await transcribe(service, audio, {
        sessionId: `http-${randomUUID()}`,
        config: host.recorderConfig,
        signal,
        words: upload.granularities.includes('word'),
        keyterms,
        onFinal: (final, i) => events?.({ type: 'transcript.text.delta', delta: i === 0 ? final.text : ` ${final.text}` }),
        observe: (recorder) => observeGain(recorder, host),
      });
      const failed = failedUpload(result.errors);
      if (failed) throw failed;
      return () => {
        if (!events) return respond(res, format, result.finals, result.seconds, result.words);
        events({ type: 'transcript.text.done', text: result.finals.map((s) => s.text).join(' ') });
        res.end();
      };
    },
    sendError: (error, headers) => {
      // Inside an event stream: the error as an event (the openai SDK raises it), then the end.
      if (res.headersSent && !res.writableEnded) res.end(`data: ${JSON.stringify({ type: 'error', error: apiErrorBody(error.status, error.code, error.message) })}\n\n`);
      else sendApiError(res, error.status, error.code, error.message, headers);
    },
  });
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
  const requestId = `req_${randomUUID().replace(/-/g, '')}`;
  let body: string;
  let type = 'application/json; charset=utf-8';
  switch (format) {
    // x_groq: Groq's API answers with its request id there, and Groq's clients (@ai-sdk/groq) require it.
    case 'json':
      body = JSON.stringify({ text, usage: { type: 'duration', seconds: round3(duration) }, x_groq: { id: requestId } });
      break;
    case 'verbose_json':
      body = JSON.stringify({
        task: 'transcribe',
        language: 'english',
        duration: round3(duration),
        text,
        segments: segments.map(whisperSegment),
        ...(words ? { words } : {}),
        usage: { type: 'duration', seconds: round3(duration) },
        x_groq: { id: requestId },
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
