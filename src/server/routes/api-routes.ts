import type { IncomingMessage, ServerResponse } from 'node:http';
import { clientAddress } from '../client-limits.ts';
import { methodNotAllowed, sendApiError } from '../http-errors.ts';
import { handleDeepgramListen } from '../protocols/deepgram-listen.ts';
import { handleTranscription } from '../protocols/openai-transcriptions.ts';
import type { TranscriptionHost } from '../protocols/upload-job.ts';
import { transcriptionHost, type ServerContext } from '../server-context.ts';
import { sendJson } from './send-json.ts';

export const API_PREFIX = '/v1/';

/** The upload routes (one queue, one set of limits): OpenAI's transcriptions and Deepgram's pre-recorded listen. */
const UPLOADS = new Map<string, (req: IncomingMessage, res: ServerResponse, url: URL, host: TranscriptionHost) => Promise<void>>([
  ['/v1/audio/transcriptions', (req, res, _url, host) => handleTranscription(req, res, host)],
  ['/v1/listen', handleDeepgramListen],
]);

/** The REST routes under /v1/ (origin and token checked first): OpenAI's transcriptions, Deepgram's listen, models. */
export async function serveApi(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const refused = ctx.admission.check('api', { req, url });
  if (refused) {
    sendApiError(res, refused.status, refused.code, refused.message, refused.headers);
    return;
  }
  const path = url.pathname;
  const read = req.method === 'GET' || req.method === 'HEAD';
  const upload = UPLOADS.get(path);
  if (upload) {
    if (req.method !== 'POST') return methodNotAllowed(res, 'POST');
    // From the start of a drain: an upload accepted now could be cut when the process exits.
    if (ctx.draining) return sendApiError(res, 503, 'SHUTTING_DOWN', 'the server is shutting down', { Connection: 'close' });
    const job = upload(req, res, url, transcriptionHost(ctx, clientAddress(req, ctx.admission.trustedProxies)));
    ctx.httpJobs.add(job);
    try {
      await job;
    } finally {
      ctx.httpJobs.delete(job);
    }
    return;
  }
  if (path === '/v1/models') {
    if (!read) return methodNotAllowed(res, 'GET, HEAD');
    const data = ctx.service.modelNames(ctx.config.model).map((id) => ({ id, object: 'model', owned_by: 'earshot' }));
    return sendJson(res, 200, { object: 'list', data }, req);
  }
  sendApiError(res, 404, 'NOT_FOUND', `no route ${path}`);
}
