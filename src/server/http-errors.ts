import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** An error answered to the client as a JSON error body with this status and code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** OpenAI-style error object, the body of every JSON error answer and of an event stream's error event. */
export function apiErrorBody(status: number, code: string, message: string): { message: string; type: string; code: string } {
  return { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', code };
}

/** A JSON error answer: {"error": {"message", "type", "code"}}; a response already started is cut instead. */
export function sendApiError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify({ error: apiErrorBody(status, code, message) });
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

export function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendApiError(res, 405, 'METHOD_NOT_ALLOWED', `method not allowed; use ${allow}`, { Allow: allow });
}

/** A whole plain-text HTTP/1.1 error response, written straight to a socket that no HTTP response object owns. */
export function rawErrorResponse(status: number, body: string, headers: Record<string, string> = {}): string {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${extra}Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
}

/** What a socket whose request could not even be parsed is told. */
export const BAD_REQUEST_RESPONSE = 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n';

/** Answers a refused WebSocket handshake and closes the socket (at the latest a second later). */
export function refuseUpgrade(socket: Duplex, status: number, body: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(rawErrorResponse(status, body, { ...(status === 503 ? { 'Retry-After': '1' } : {}), ...headers }), () => socket.destroy());
  setTimeout(() => socket.destroy(), 1000).unref();
}
