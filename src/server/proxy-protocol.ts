import { isIP, type Socket } from 'node:net';

/**
 * HAProxy's PROXY protocol (www.haproxy.org/download/2.8/doc/proxy-protocol.txt), versions 1 and 2: the header a
 * balancer writes first on a TCP connection to say whose it is. Read only from trusted proxies (a client could
 * otherwise claim any address); on the Wyoming port, whose own traffic starts with "{", so a trusted proxy's
 * connection without a header is told apart from one with.
 */
export type ProxyHeader =
  /** Not all of the header has arrived yet. */
  | { kind: 'incomplete' }
  /** The bytes do not start a PROXY header. */
  | { kind: 'none' }
  /** They start one that is malformed: the connection is not to be served. */
  | { kind: 'invalid' }
  /** `source`: the client's address (undefined for a proxy's own connection: v2 LOCAL, v1 UNKNOWN, unix sockets); `length`: bytes to skip. */
  | { kind: 'header'; source?: string; length: number };

const INVALID: ProxyHeader = { kind: 'invalid' };
const V1_PREFIX = Buffer.from('PROXY ');
/** The spec's bound on a v1 line, CRLF included. */
const V1_MAX = 107;
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;
/** Beyond the addresses a v2 header may carry TLVs; a balancer's are small (HAProxy's: tens of bytes). */
export const PROXY_HEADER_MAX = V2_FIXED + 512;

/** Whether `bytes` could still become `prefix` (all of what is there matches its start). */
function startsLike(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return bytes.subarray(0, n).equals(prefix.subarray(0, n));
}

export function parseProxyHeader(bytes: Buffer): ProxyHeader {
  if (bytes.length === 0) return { kind: 'incomplete' };
  if (startsLike(bytes, V1_PREFIX)) return bytes.length < V1_PREFIX.length ? { kind: 'incomplete' } : parseV1(bytes);
  if (startsLike(bytes, V2_SIGNATURE)) return bytes.length < V2_FIXED ? { kind: 'incomplete' } : parseV2(bytes);
  return { kind: 'none' };
}

function parseV1(bytes: Buffer): ProxyHeader {
  const end = bytes.subarray(0, V1_MAX).indexOf('\r\n');
  if (end < 0) return bytes.length >= V1_MAX ? INVALID : { kind: 'incomplete' }; // no CRLF within the spec's bound
  const length = end + 2;
  const [, family, source, destination, sourcePort, destinationPort, ...extra] = bytes.toString('latin1', 0, end).split(' ');
  if (family === 'UNKNOWN') return { kind: 'header', length };
  const version = family === 'TCP4' ? 4 : family === 'TCP6' ? 6 : 0;
  if (!version || extra.length || isIP(source ?? '') !== version || isIP(destination ?? '') !== version || !isPort(sourcePort) || !isPort(destinationPort)) {
    return INVALID;
  }
  return { kind: 'header', source, length };
}

function isPort(text: string | undefined): boolean {
  return !!text && /^(0|[1-9][0-9]{0,4})$/.test(text) && Number(text) <= 65535;
}

function parseV2(bytes: Buffer): ProxyHeader {
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return INVALID; // not version 2
  const length = V2_FIXED + bytes.readUInt16BE(14);
  if (length > PROXY_HEADER_MAX) return INVALID; // not waited for
  if (bytes.length < length) return { kind: 'incomplete' };
  const command = versionCommand & 0x0f;
  if (command === 0) return { kind: 'header', length }; // LOCAL: the proxy's own connection (a health check)
  if (command !== 1) return INVALID; // neither LOCAL nor PROXY
  const family = bytes[13]! >> 4;
  const body = bytes.subarray(V2_FIXED, length);
  if (family === 1) {
    if (body.length < 12) return INVALID; // addresses cut short
    return { kind: 'header', source: Array.from(body.subarray(0, 4)).join('.'), length };
  }
  if (family === 2) {
    if (body.length < 36) return INVALID; // addresses cut short
    // An IPv4 client of a dual-stack proxy (::ffff:a.b.c.d) is written so that it counts as that IPv4 address.
    if (body.subarray(0, 10).every((b) => b === 0) && body.readUInt16BE(10) === 0xffff) {
      return { kind: 'header', source: `::ffff:${Array.from(body.subarray(12, 16)).join('.')}`, length };
    }
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(body.readUInt16BE(i).toString(16));
    return { kind: 'header', source: groups.join(':'), length };
  }
  return { kind: 'header', length }; // AF_UNSPEC or a unix socket: no client address to count by
}

/** What a trusted proxy's connection began with: the client it names (undefined: the proxy's own), then the rest. */
export interface ProxyPreamble {
  source?: string;
  rest: Buffer;
}

/**
 * Reads what a trusted proxy sends first on `socket`: a PROXY header or, without one, the start of the connection's
 * own traffic. Resolves with the client's address (undefined: the proxy's own) and the bytes after the header, or
 * with undefined when the header is malformed, does not arrive within `timeoutMs`, or the socket closes first.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxyPreamble | undefined> {
  return new Promise((resolve) => {
    let received: Buffer = Buffer.alloc(0);
    const done = (result: ProxyPreamble | undefined) => {
      clearTimeout(timer);
      socket.off('data', onData).off('close', onClose);
      resolve(result);
    };
    const onData = (data: Buffer) => {
      received = received.length ? Buffer.concat([received, data]) : data;
      const header = parseProxyHeader(received);
      if (header.kind === 'none') done({ rest: received });
      else if (header.kind === 'header') done({ source: header.source, rest: received.subarray(header.length) });
      else if (header.kind === 'invalid') done(undefined);
    };
    const onClose = () => done(undefined);
    const timer = setTimeout(onClose, timeoutMs);
    socket.on('data', onData).on('close', onClose);
  });
}
