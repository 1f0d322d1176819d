import type { ChatEndpoint } from '../chat-completions.ts';
import { SeedWebSocketSession } from '../protocols/seed-websocket.ts';
import { AUDIO_MAX_PAYLOAD, type WebSocketRoute } from './websocket-route.ts';

/** The seed's own protocol (docs: the seed plan's WebSocket messages). */
export const SEED_STREAM_PATH = '/ws/stream';

export function seedStreamRoute(chat: ChatEndpoint | undefined): WebSocketRoute {
  return { path: SEED_STREAM_PATH, maxPayload: AUDIO_MAX_PAYLOAD, open: (ws, _req, _url, host) => new SeedWebSocketSession(ws, host, chat) };
}
