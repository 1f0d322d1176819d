import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { SUBPROTOCOL } from '../../protocol/seed-messages.ts';
import { clientAddress } from '../client-limits.ts';
import { refuseUpgrade } from '../http-errors.ts';
import type { ProtocolConnection } from '../protocols/websocket-adapter.ts';
import { sessionHost, type ServerContext } from '../server-context.ts';
import { requestId } from './http-router.ts';
import type { WebSocketRoute } from './websocket-route.ts';

/** Subprotocols a browser may offer, one of which the server must select: OpenAI's, Deepgram's and our own. */
const SELECTABLE_SUBPROTOCOLS = ['realtime', 'token', SUBPROTOCOL];

/**
 * The HTTP server's 'upgrade' handler for the WebSocket routes: path, then admission (drain, capacity, origin, token,
 * the route's own query check, the client's share) before accepting, so that a refused client never sends audio.
 */
export function websocketUpgrade(ctx: ServerContext, routes: readonly WebSocketRoute[]): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const byPath = new Map(
    routes.map((route) => {
      const wss = new WebSocketServer({
        noServer: true,
        maxPayload: route.maxPayload,
        perMessageDeflate: false,
        clientTracking: false,
        handleProtocols: (offered) => SELECTABLE_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
      });
      return [route.path, { route, wss }];
    }),
  );
  return (req, socket, head) => {
    socket.on('error', () => {});
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        return refuseUpgrade(socket, 400, 'Bad Request');
      }
      const entry = byPath.get(url.pathname);
      if (!entry) {
        ctx.metrics.refusedUpgrades.inc({ reason: 'not_found' });
        return refuseUpgrade(socket, 404, 'Not Found');
      }
      const address = clientAddress(req, ctx.admission.trustedProxies);
      const refused = ctx.admission.check('stream', { req, url, address, validate: () => entry.route.refuse?.(url) });
      if (refused) {
        ctx.metrics.refusedUpgrades.inc({ reason: refused.reason });
        return refuseUpgrade(socket, refused.status, refused.message, refused.headers);
      }
      let accepted = false;
      // The client's connection is taken before the (asynchronous) handshake so that a burst cannot pass the cap; a
      // handshake that fails gives it back when the socket closes.
      socket.once('close', () => {
        if (!accepted) ctx.admission.release(address);
      });
      entry.wss.handleUpgrade(req, socket, head, (ws) => {
        accepted = true;
        onConnection(ctx, ws, entry.route.open(ws, req, url, sessionHost(ctx, address)), req, address);
      });
    } catch (e) {
      ctx.log.error({ err: e }, 'upgrade failed');
      socket.destroy();
    }
  };
}

function onConnection(ctx: ServerContext, ws: WebSocket, session: ProtocolConnection, req: IncomingMessage, address: string): void {
  const log = ctx.log.child({ session: session.session.id });
  log.info({ req: requestId(req), path: req.url?.split('?')[0], remote: req.socket.remoteAddress, forwardedFor: req.headers['x-forwarded-for'], client: address }, 'connection opened');
  const link = ctx.connections.track(session, address, log, () => ws.terminate(), ws);
  ws.on('pong', () => {
    link.conn.alive = true;
  });
  ws.on('message', link.receive);
  ws.on('error', (e) => log.warn(e.message));
  ws.on('close', (code) => {
    log.info({ code }, 'connection closed');
    link.closed();
  });
}
