import type { IncomingMessage, ServerResponse } from 'node:http';

/** A JSON answer, never cached; a HEAD request gets the headers only. */
export function sendJson(res: ServerResponse, status: number, value: unknown, req?: IncomingMessage): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(req?.method === 'HEAD' ? undefined : body);
}
