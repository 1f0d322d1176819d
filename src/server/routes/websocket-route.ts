import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { MAX_AUDIO_FRAME_BYTES } from '../../protocol/seed-messages.ts';
import type { ProtocolConnection } from '../protocols/websocket-adapter.ts';
import type { SessionHost } from '../transcription-session.ts';

/** A WebSocket protocol family's route: its path, its frame limit, and the adapter that speaks it. */
export interface WebSocketRoute {
  readonly path: string;
  /** ws closes the connection (1009) for a frame over this. */
  readonly maxPayload: number;
  /** Why the handshake is refused (400) before any audio, e.g. a bad query. */
  refuse?(url: URL): string | undefined;
  open(ws: WebSocket, req: IncomingMessage, url: URL, host: SessionHost): ProtocolConnection;
}

/**
 * Frames between MAX_AUDIO_FRAME_BYTES and this are read and answered with AUDIO_FRAME_TOO_LARGE, and the connection
 * stays usable; ws closes it (1009) above.
 */
export const AUDIO_MAX_PAYLOAD = 2 * MAX_AUDIO_FRAME_BYTES;
