import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * The token a request carries: `Authorization: Bearer T` (OpenAI) or `Token T` (Deepgram), `?token=T` in the URL,
 * or — for browsers, which cannot set headers on a WebSocket — in the subprotocol list: OpenAI's
 * `openai-insecure-api-key.T`, Deepgram's `token, T`.
 */
export function requestToken(req: IncomingMessage, url: URL): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const m = /^(?:Bearer|Token)\s+(.+)$/i.exec(auth.trim());
    if (m) return m[1]!.trim();
  }
  const fromUrl = url.searchParams.get('token');
  if (fromUrl !== null) return fromUrl;
  const protocols = subprotocols(req);
  const openai = protocols.find((p) => p.startsWith(OPENAI_KEY_PROTOCOL));
  if (openai) return openai.slice(OPENAI_KEY_PROTOCOL.length);
  const i = protocols.indexOf('token');
  return i >= 0 ? protocols[i + 1] : undefined;
}

const OPENAI_KEY_PROTOCOL = 'openai-insecure-api-key.';

/** The Sec-WebSocket-Protocol list of a request. */
export function subprotocols(req: IncomingMessage): string[] {
  const header = req.headers['sec-websocket-protocol'];
  return header ? header.split(',').map((p) => p.trim()).filter(Boolean) : [];
}

/** Constant-time comparison (of digests, so lengths leak nothing either). */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

const LOCAL_HOSTNAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/**
 * Browser origin check (cross-site WebSocket hijacking / CSRF guard). Allowed: no Origin header (not a browser),
 * the server's own origin (Origin host equals the Host header), http(s) pages on localhost / 127.0.0.1 / [::1] at any
 * port, and the configured list ("*" allows all). Everything else, "null" included, is refused.
 *
 * `sameOriginByHost` is false when the server listens on loopback only: a page that reached it under a foreign name
 * can only have done so by DNS rebinding, so there the Host header is not trusted and only local origins pass.
 */
export function originAllowed(req: IncomingMessage, allowed: readonly string[], sameOriginByHost = true): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed.includes('*')) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  if (allowed.includes(url.origin)) return true;
  if (LOCAL_HOSTNAMES.has(url.hostname)) return true;
  if (!sameOriginByHost) return false;
  const host = req.headers.host?.toLowerCase();
  return host !== undefined && url.host.toLowerCase() === host;
}
