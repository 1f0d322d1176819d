import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { methodNotAllowed, sendApiError } from '../http-errors.ts';
import type { ServerContext } from '../server-context.ts';
import { serveStatic } from '../static-files.ts';
import { API_PREFIX, serveApi } from './api-routes.ts';
import { serveStatus } from './status-routes.ts';
import { SEED_STREAM_PATH } from './seed-stream-route.ts';

/** The HTTP request handler: status routes, the REST API, then the web client and SDK files. */
export function httpRouter(ctx: ServerContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const id = requestId(req);
    res.setHeader('X-Request-Id', id);
    route(ctx, req, res).catch((e: unknown) => {
      ctx.log.error({ req: id, method: req.method, url: req.url, err: e }, 'request failed');
      if (!res.headersSent) sendApiError(res, 500, 'INTERNAL_ERROR', 'internal error');
      else res.destroy();
    });
  };
}

async function route(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://localhost');
  } catch {
    return sendApiError(res, 400, 'BAD_REQUEST', 'bad URL');
  }
  const path = url.pathname;
  if (await serveStatus(ctx, req, res, url)) return;
  if (path.startsWith(API_PREFIX)) return serveApi(ctx, req, res, url);
  if (path === SEED_STREAM_PATH) {
    return sendApiError(res, 426, 'UPGRADE_REQUIRED', `${SEED_STREAM_PATH} is a WebSocket endpoint`, { Upgrade: 'websocket' });
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(res, 'GET, HEAD');
  // The browser SDK (/sdk/earshot.js, its worklet and types) is loaded by other sites' pages as a module: CORS.
  const sdkHeaders = path.startsWith('/sdk/') ? { 'Access-Control-Allow-Origin': '*' } : undefined;
  if (await serveStatic(req, res, path, ctx.config.webRoot, sdkHeaders)) return;
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('not found\n');
}

/** The balancer's X-Request-Id when it sent a plausible one, else a new id. */
export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
}
