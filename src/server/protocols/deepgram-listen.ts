import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { meanLogProb } from '../../asr/engine.ts';
import { KeytermError, parseKeyterms } from '../../asr/keyterms.ts';
import { transcribe } from '../../pipeline/transcribe.ts';
import type { FinalTranscript } from '../../recorder/recorder.ts';
import type { TimedWord } from '../../recorder/word-timestamps.ts';
import { ApiError } from '../http-errors.ts';
import { sessionKeyterms } from '../session-keyterms.ts';
import { failedUpload, openAudio, runUpload, type TranscriptionHost } from './upload-job.ts';
import { fetchUrlSource } from './url-source.ts';

/**
 * Deepgram's pre-recorded API, POST /v1/listen, as `@deepgram/sdk` (listen.v1.media.transcribeFile), LiveKit's
 * plugin (recognize) and `@ai-sdk/deepgram` call it: the audio file as the raw body (any format the upload path
 * decodes), the options in the query (`model`, `language` (English only), `utterances`, `paragraphs`, `keyterm` and
 * `keywords` (as keyterms, docs/keyterms.md); `punctuate`, `smart_format` … are accepted, the models punctuate anyway), Deepgram's
 * response shape. A JSON body
 * `{"url": …}` is refused unless the operator allows URL sources, and never fetches loopback or private addresses.
 * The same upload queue, limits and error statuses as /v1/audio/transcriptions; errors in Deepgram's shape
 * (`err_code`, `err_msg`, `request_id`) with OpenAI's `error` object beside it.
 */
export async function handleDeepgramListen(req: IncomingMessage, res: ServerResponse, url: URL, host: TranscriptionHost): Promise<void> {
  const requestId = randomUUID();
  const query = url.searchParams;
  const json = /^application\/json\b/i.test(req.headers['content-type'] ?? '');
  await runUpload(req, res, host, {
    precheck: () => {
      const language = query.get('language');
      if (language && !/^en(-|$)/i.test(language)) throw new ApiError(400, 'UNSUPPORTED_LANGUAGE', `only English ("en") is supported (got "${language.slice(0, 20)}")`);
      if (json && !host.allowUrlSources) {
        throw new ApiError(400, 'URL_SOURCES_DISABLED', 'this server does not fetch audio from URLs; send the audio file itself as the request body');
      }
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > host.maxUploadBytes) {
        throw new ApiError(413, 'FILE_TOO_LARGE', `upload of ${declared} bytes is over the limit of ${host.maxUploadBytes} bytes`);
      }
    },
    work: async ({ service, tmp, signal }) => {
      const keyterms = await listenKeyterms([...query.getAll('keyterm'), ...query.getAll('keywords')], host);
      const sha256 = json ? await fetchUrlSource(await readJsonUrl(req), tmp, host.maxUploadBytes) : await receiveBody(req, tmp, host.maxUploadBytes);
      const audio = await openAudio(tmp);
      const result = await transcribe(service, audio, { sessionId: `listen-${requestId}`, config: host.recorderConfig, signal, words: true, keyterms });
      const failed = failedUpload(result.errors);
      if (failed) throw failed;
      const body = listenResponse(requestId, sha256, result.seconds, result.finals, result.words ?? [], {
        model: service.finalEngine.name,
        utterances: flag(query, 'utterances'),
        paragraphs: flag(query, 'paragraphs'),
      });
      return () => sendJson(res, 200, body, { 'dg-request-id': requestId });
    },
    sendError: (error, headers) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const type = error.status >= 500 ? 'server_error' : 'invalid_request_error';
      sendJson(res, error.status, { err_code: error.code, err_msg: error.message, request_id: requestId, error: { message: error.message, type, code: error.code } }, { ...headers, 'dg-request-id': requestId });
    },
  });
}

interface ListenOptions {
  model: string;
  utterances: boolean;
  paragraphs: boolean;
}

/** Deepgram's pre-recorded response: one channel, one alternative; utterances and paragraphs when asked. */
export function listenResponse(requestId: string, sha256: string, seconds: number, segments: FinalTranscript[], words: TimedWord[], options: ListenOptions): Record<string, unknown> {
  const modelId = randomUUID();
  // A final's confidence: the probability per token its model gave what it decoded.
  const confidence = (s: FinalTranscript) => (s.score ? round3(Math.exp(meanLogProb(s.score))) : 1);
  const timed = words.map((w) => ({ ...w, segment: segments.findIndex((s) => w.end <= s.end + 0.001) }));
  const dgWord = (w: (typeof timed)[number]) => ({ word: bare(w.word), start: w.start, end: w.end, confidence: segments[w.segment] ? confidence(segments[w.segment]!) : 1, punctuated_word: w.word });
  const transcript = segments.map((s) => s.text).join(' ');
  const alternative: Record<string, unknown> = {
    transcript,
    confidence: segments.length ? round3(segments.reduce((sum, s) => sum + confidence(s), 0) / segments.length) : 0,
    words: timed.map(dgWord),
  };
  if (options.paragraphs) {
    alternative.paragraphs = {
      transcript: segments.map((s) => `\n${s.text}`).join('\n'),
      paragraphs: segments.map((s, i) => ({
        sentences: [{ text: s.text, start: round3(s.start), end: round3(s.end) }],
        num_words: timed.filter((w) => w.segment === i).length,
        start: round3(s.start),
        end: round3(s.end),
      })),
    };
  }
  const results: Record<string, unknown> = { channels: [{ alternatives: [alternative] }] };
  if (options.utterances) {
    results.utterances = segments.map((s, i) => ({
      start: round3(s.start),
      end: round3(s.end),
      confidence: confidence(s),
      channel: 0,
      transcript: s.text,
      words: timed.filter((w) => w.segment === i).map(dgWord),
      id: randomUUID(),
    }));
  }
  return {
    metadata: {
      transaction_key: 'deprecated',
      request_id: requestId,
      sha256,
      created: new Date().toISOString(),
      duration: round3(seconds),
      channels: 1,
      models: [modelId],
      model_info: { [modelId]: { name: options.model, version: '1', arch: 'moonshine' } },
    },
    results,
  };
}

/** Deepgram's `keyterm` and `keywords` (word:boost), both repeatable, as keyterms with the operator's; a bad one is 400 BAD_KEYTERMS. */
async function listenKeyterms(terms: string[], host: TranscriptionHost) {
  const refuse = (message: string): never => {
    throw new ApiError(400, 'BAD_KEYTERMS', message);
  };
  try {
    return await sessionKeyterms(parseKeyterms(terms.map((t) => t.trim()).filter(Boolean)), host, refuse);
  } catch (e) {
    if (e instanceof KeytermError) refuse(e.message);
    throw e;
  }
}

/** The raw body to `file` (up to `maxBytes`); its sha256, as Deepgram's metadata gives it. */
async function receiveBody(req: IncomingMessage, file: string, maxBytes: number): Promise<string> {
  const hash = createHash('sha256');
  let bytes = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) return done(new ApiError(413, 'FILE_TOO_LARGE', `upload is over the limit of ${maxBytes} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(req, limit, createWriteStream(file));
  if (bytes === 0) throw new ApiError(400, 'MISSING_FILE', 'the request body is empty: send the audio file as the body');
  return hash.digest('hex');
}

/** `{"url": "…"}`, at most 64 KiB of JSON. */
async function readJsonUrl(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > 64 * 1024) throw new ApiError(413, 'FILE_TOO_LARGE', 'a JSON body is at most 64 KiB');
    chunks.push(chunk);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new ApiError(400, 'BAD_REQUEST', 'the JSON body must be {"url": "https://…"}');
  }
  const url = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).url : undefined;
  if (typeof url !== 'string') throw new ApiError(400, 'BAD_REQUEST', 'the JSON body must be {"url": "https://…"}');
  return url;
}

function flag(query: URLSearchParams, name: string): boolean {
  return /^true$/i.test(query.get(name) ?? '');
}

/** Deepgram's `word`: lower case, no punctuation (the punctuated form is `punctuated_word`). */
function bare(word: string): string {
  return word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '');
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
