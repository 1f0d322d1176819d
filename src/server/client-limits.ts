import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';

/** Per-client caps; a client is one address (see clientAddress), or one IPv6 /64 (see clientGroup). */
export interface ClientLimitConfig {
  maxConnectionsPerClient: number;
  maxSessionsPerClient: number;
}

/**
 * Counts what each client holds (open WebSocket connections, listening sessions and uploads), so that one client
 * cannot take all of the server's capacity. Counts are dropped when they reach 0, so the map only holds clients that
 * hold something.
 */
export class ClientLimits {
  private readonly held = new Map<string, { connections: number; sessions: number }>();

  constructor(private readonly config: ClientLimitConfig) {}

  tryConnect(address: string): boolean {
    const h = this.entry(address);
    if (h.connections >= this.config.maxConnectionsPerClient) return false;
    h.connections++;
    return true;
  }

  disconnect(address: string): void {
    this.release(address, 'connections');
  }

  tryStartSession(address: string): boolean {
    const h = this.entry(address);
    if (h.sessions >= this.config.maxSessionsPerClient) return false;
    h.sessions++;
    return true;
  }

  endSession(address: string): void {
    this.release(address, 'sessions');
  }

  private entry(address: string): { connections: number; sessions: number } {
    const group = clientGroup(address);
    let h = this.held.get(group);
    if (!h) {
      h = { connections: 0, sessions: 0 };
      this.held.set(group, h);
    }
    return h;
  }

  private release(address: string, what: 'connections' | 'sessions'): void {
    const group = clientGroup(address);
    const h = this.held.get(group);
    if (!h) return;
    h[what] = Math.max(0, h[what] - 1);
    if (h.connections === 0 && h.sessions === 0) this.held.delete(group);
  }
}

/**
 * The client's address: the socket's peer, or, only when that peer is a trusted proxy, the nearest untrusted address
 * in X-Forwarded-For (read right to left, since a client can put anything at the left end of the header).
 */
export function clientAddress(req: IncomingMessage, trustedProxies: ReadonlySet<string>): string {
  const peer = normalizeAddress(req.socket.remoteAddress ?? 'unknown');
  if (!trustedProxies.has(peer)) return peer;
  const header = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((h) => normalizeAddress(h.trim()));
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (!isIP(hop)) break; // garbage from the client: stop at the last hop the proxies vouched for
    if (!trustedProxies.has(hop)) return hop;
  }
  return peer;
}

/** "::ffff:127.0.0.2" → "127.0.0.2", so IPv4 clients on a dual-stack socket count as one address. */
export function normalizeAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * What per-client limits count by: an IPv4 address, or an IPv6 address's /64 ("2001:db8:1:2::/64"). A /64 is one
 * subscriber's network, in which a host may take any of 2^64 addresses: limits per IPv6 address would be none.
 */
export function clientGroup(peer: string): string {
  const address = normalizeAddress(peer);
  if (isIP(address) !== 6) return address;
  const [head = '', tail] = address.split('%')[0]!.split('::');
  // An IPv4 tail ("::1.2.3.4") is two groups; only the first four groups matter here.
  const groups = (part = '') => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const first = groups(head);
  const all = tail === undefined ? first : [...first, ...Array<string>(8 - first.length - groups(tail).length).fill('0'), ...groups(tail)];
  return `${all.slice(0, 4).map((g) => parseInt(g, 16).toString(16)).join(':')}::/64`;
}
