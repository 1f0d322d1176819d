import net from 'node:net';
import { normalizeAddress } from '../client-limits.ts';
import { WyomingSession } from '../protocols/wyoming.ts';
import { readProxyHeader } from '../proxy-protocol.ts';
import { sessionHost, type ServerContext } from '../server-context.ts';

/** A balancer writes its PROXY header at once; a trusted peer silent for this long is closed. */
const PROXY_HEADER_TIMEOUT_MS = 5000;

/**
 * Wyoming (Home Assistant) on its own TCP port, same host, sharing sessions, admission and drain with the WebSocket
 * protocols; resolves with the listening server.
 */
export function listenWyoming(ctx: ServerContext, port: number): Promise<net.Server> {
  const server = net.createServer((socket) => onConnection(ctx, socket));
  // The same per-address sockets and connect rate as the HTTP port (one table for both); a refusal is just a close.
  ctx.admission.guard(server, false);
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`cannot listen for Wyoming on ${ctx.config.host}:${port}: ${e.code ?? e.message}`)));
    server.listen(port, ctx.config.host, () => resolve(server));
  });
}

function onConnection(ctx: ServerContext, socket: net.Socket): void {
  socket.on('error', () => {});
  const peer = normalizeAddress(socket.remoteAddress ?? 'unknown');
  if (!ctx.admission.trustedProxies.has(peer)) {
    serve(ctx, socket, peer);
    return;
  }
  // A trusted balancer says whose connection it is in a PROXY header (HAProxy's send-proxy-v2); without one the
  // connection is the proxy host's own.
  void readProxyHeader(socket, PROXY_HEADER_TIMEOUT_MS).then((header) => {
    if (!header) {
      // Closed before it said anything (a TCP health check): nothing to count.
      if (!socket.destroyed) ctx.metrics.refusedUpgrades.inc({ reason: 'bad_proxy_header' });
      socket.destroy();
      return;
    }
    serve(ctx, socket, header.source ? normalizeAddress(header.source) : peer, header.rest);
  });
}

function serve(ctx: ServerContext, socket: net.Socket, address: string, head?: Buffer): void {
  if (socket.destroyed) return;
  const refused = ctx.admission.check('wyoming', { address });
  if (refused) {
    ctx.metrics.refusedUpgrades.inc({ reason: refused.reason });
    socket.destroy();
    return;
  }
  socket.setNoDelay(true);
  const session = new WyomingSession(socket, sessionHost(ctx, address), () => ctx.service.modelNames(ctx.config.model));
  const link = ctx.connections.track(session, address, ctx.log.child({ session: session.session.id }), () => socket.destroy());
  socket.on('data', (data) => link.receive(data, true));
  socket.on('close', link.closed);
  if (head?.length) link.receive(head, true);
}
