import type { IncomingMessage, ServerResponse } from 'node:http';
import { methodNotAllowed, sendApiError } from '../http-errors.ts';
import { PROMETHEUS_CONTENT_TYPE } from '../metrics.ts';
import type { ServerContext } from '../server-context.ts';
import { sendJson } from './send-json.ts';

/** /health (the process answers), /ready (it can take a session: a balancer's check) and /metrics; false for other paths. */
export async function serveStatus(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const path = url.pathname;
  if (path !== '/health' && path !== '/ready' && path !== '/metrics') return false;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    methodNotAllowed(res, 'GET, HEAD');
    return true;
  }
  if (path === '/health') sendJson(res, 200, { status: 'ok' }, req);
  else if (path === '/ready') sendJson(res, ...readiness(ctx), req);
  else await serveMetrics(ctx, req, res, url);
  return true;
}

function readiness(ctx: ServerContext): [number, Record<string, unknown>] {
  const service = ctx.service.current;
  const failure = ctx.service.failure;
  if (ctx.draining) return [503, { status: 'draining' }];
  if (ctx.slots.full) return [503, { status: 'full', sessions: ctx.slots.count }];
  if (service && service.scheduler.liveLanes === 0) return [503, { status: 'no_inference_worker' }];
  if (service) return [200, { status: 'ready', model: service.finalEngine.name, realtime_model: service.partialEngine.name }];
  if (failure) return [503, { status: 'failed', error: failure.message }];
  return [503, { status: 'loading' }];
}

async function serveMetrics(ctx: ServerContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const refused = ctx.admission.check('metrics', { req, url });
  if (refused) {
    sendApiError(res, refused.status, refused.code, refused.message, refused.headers);
    return;
  }
  const body = await ctx.metrics.render();
  res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : body);
}
