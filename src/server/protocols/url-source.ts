import { createHash } from 'node:crypto';
import dns from 'node:dns';
import { createWriteStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApiError } from '../http-errors.ts';

/** A URL source that does not answer within this long is given up. */
const FETCH_TIMEOUT_MS = 30_000;

/**
 * Fetches a Deepgram `{"url": …}` audio source to `file` (at most `maxBytes`) and returns its sha256. Only http(s)
 * to public addresses: the name is resolved here and every address it has is checked (loopback, private, link-local,
 * carrier-grade NAT, unique-local, multicast and unspecified ones are refused), and the connection goes to the
 * address checked, so a name cannot be re-pointed between the check and the fetch. Redirects are not followed.
 */
export async function fetchUrlSource(source: string, file: string, maxBytes: number): Promise<string> {
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new ApiError(400, 'BAD_URL', 'url must be an absolute http(s) URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ApiError(400, 'BAD_URL', 'url must be an http(s) URL');
  // An address written in the URL is connected to without a lookup: check it here.
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(literal) && !isPublicAddress(literal)) throw new ApiError(400, 'URL_NOT_ALLOWED', `${literal} is not a public address`);
  const get = url.protocol === 'https:' ? https.get : http.get;
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = get(url, { lookup: publicLookup, timeout: FETCH_TIMEOUT_MS }, resolve);
    req.on('timeout', () => req.destroy(new ApiError(400, 'URL_FETCH_FAILED', `the url did not answer within ${FETCH_TIMEOUT_MS / 1000} s`)));
    req.on('error', (e) => reject(e instanceof ApiError ? e : new ApiError(400, 'URL_FETCH_FAILED', `could not fetch the url: ${e.message}`)));
  });
  if (response.statusCode !== 200) {
    response.resume();
    throw new ApiError(400, 'URL_FETCH_FAILED', `the url answered ${response.statusCode} (redirects are not followed)`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  const limit = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      if (bytes > maxBytes) return done(new ApiError(413, 'FILE_TOO_LARGE', `the url's audio is over the limit of ${maxBytes} bytes`));
      hash.update(chunk);
      done(null, chunk);
    },
  });
  await pipeline(response, limit, createWriteStream(file));
  return hash.digest('hex');
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/** dns.lookup that fails for any name with a non-public address. */
function publicLookup(hostname: string, options: dns.LookupOptions, callback: LookupCallback): void {
  dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    const blocked = addresses.find((a) => !isPublicAddress(a.address));
    if (blocked || addresses.length === 0) {
      return callback(new ApiError(400, 'URL_NOT_ALLOWED', `${hostname} resolves to ${blocked?.address ?? 'nothing'}, which is not a public address`) as unknown as NodeJS.ErrnoException, '');
    }
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  });
}

/** False for loopback, private, link-local, CGNAT, unique-local, multicast, unspecified and reserved addresses. */
export function isPublicAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return isPublicAddress(mapped[1]!);
  if (net.isIPv4(address)) {
    const [a, b] = address.split('.').map(Number) as [number, number];
    if (a === 0 || a === 10 || a === 127 || a >= 224) return false;
    if (a === 169 && b === 254) return false;
    if (a === 172 && b >= 16 && b <= 31) return false;
    if (a === 192 && b === 168) return false;
    if (a === 100 && b >= 64 && b <= 127) return false;
    return true;
  }
  if (!net.isIPv6(address)) return false;
  const lower = address.toLowerCase();
  if (lower === '::' || lower === '::1') return false;
  const first = parseInt(lower.split(':')[0] || '0', 16);
  if ((first & 0xfe00) === 0xfc00) return false; // fc00::/7 unique local
  if ((first & 0xffc0) === 0xfe80) return false; // fe80::/10 link local
  if ((first & 0xff00) === 0xff00) return false; // multicast
  return true;
}
