import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { TOKEN_SUBPROTOCOL_PREFIX } from '../protocol/seed-messages.ts';

/**
 * The token a request carries: `Authorization: Bearer T` (OpenAI) or `Token T` (Deepgram), `?token=T` in the URL,
 * or — for browsers, which cannot set headers on a WebSocket — in the subprotocol list: ours `token.T` beside
 * `earshot`, OpenAI's `openai-insecure-api-key.T`, Deepgram's `token, T`.
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
  const ours = protocols.find((p) => p.startsWith(TOKEN_SUBPROTOCOL_PREFIX));
  if (ours) return ours.slice(TOKEN_SUBPROTOCOL_PREFIX.length);
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

/**
 * Short-lived tokens a host app hands to browsers instead of EARSHOT_TOKEN:
 * `es1.<expiry, unix seconds>.<scope>.<base64url HMAC-SHA256 of "es1.<expiry>.<scope>", keyed with EARSHOT_TOKEN>`.
 * The only scope is `stream`: the live WebSocket routes (/ws/stream and the other protocols' sockets), never /v1 or
 * /metrics; the characters are all legal in a subprotocol name.
 */
export const STREAM_SCOPE = 'stream';
const SIGNED_PREFIX = 'es1';

function signature(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

export function signToken(secret: string, options: { ttlSeconds: number; scope?: string; now?: number }): string {
  const expiry = Math.floor((options.now ?? Date.now()) / 1000) + Math.max(1, Math.round(options.ttlSeconds));
  const payload = `${SIGNED_PREFIX}.${expiry}.${options.scope ?? STREAM_SCOPE}`;
  return `${payload}.${signature(secret, payload)}`;
}

/** True for an unexpired token signed with `secret` for `scope`. */
export function signedTokenValid(secret: string, token: string, scope: string, now = Date.now()): boolean {
  const parts = token.split('.');
  if (parts.length !== 4 || parts[0] !== SIGNED_PREFIX || parts[2] !== scope || !/^\d{1,12}$/.test(parts[1]!)) return false;
  if (Number(parts[1]) * 1000 <= now) return false;
  return tokenMatches(signature(secret, parts.slice(0, 3).join('.')), parts[3]);
}

/** Constant-time comparison (of digests, so lengths leak nothing either). */
export function tokenMatches(expected: string, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b);
}

/**
 * The one loopback rule: `localhost`, 127.0.0.0/8 and ::1 (bracketed or not, IPv4-mapped or not). Used for a bind
 * address (only this machine can connect) and for a browser origin's host (a page served from this machine).
 */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h === '::1') return true;
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h;
  return isIP(v4) === 4 && v4.startsWith('127.');
}

/**
 * Browser origin check (cross-site WebSocket hijacking / CSRF guard). Allowed: no Origin header (not a browser),
 * the server's own origin (Origin host equals the Host header), http(s) pages on a loopback host (isLoopbackHost) at
 * any port, and the configured list ("*" allows all). Everything else, "null" included, is refused.
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
  if (isLoopbackHost(url.hostname)) return true;
  if (!sameOriginByHost) return false;
  const host = req.headers.host?.toLowerCase();
  return host !== undefined && url.host.toLowerCase() === host;
}
