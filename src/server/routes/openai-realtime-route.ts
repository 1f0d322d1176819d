import { OPENAI_MAX_TEXT_BYTES, OpenAIRealtimeSession } from '../protocols/openai-realtime.ts';
import type { WebSocketRoute } from './websocket-route.ts';

export const OPENAI_REALTIME_PATH = '/v1/realtime';

export const openaiRealtimeRoute: WebSocketRoute = {
  path: OPENAI_REALTIME_PATH,
  maxPayload: OPENAI_MAX_TEXT_BYTES,
  open: (ws, req, url, host) =>
    // Beta-era clients say so with a header (or the subprotocol `openai-beta.realtime-v1`): answer with the beta names.
    // The URL's model (LiveKit's plugin names it there) decides the turns before any session.update.
    new OpenAIRealtimeSession(ws, host, {
      beta: /realtime=v1/.test(String(req.headers['openai-beta'] ?? '')) || /openai-beta\.realtime-v1/.test(String(req.headers['sec-websocket-protocol'] ?? '')),
      model: url.searchParams.get('model') ?? undefined,
    }),
};
