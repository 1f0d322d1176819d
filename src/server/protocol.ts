/**
 * The server's view of the /ws/stream protocol. The wire types live once in src/protocol/seed-messages.ts (shared
 * with the Node and browser clients); this module adds what only the server decides.
 */
import type { ServerMessageType } from '../protocol/seed-messages.ts';

export {
  DEFAULT_SAMPLE_RATE,
  MAX_AUDIO_FRAME_BYTES,
  MAX_SAMPLE_RATE,
  MAX_SESSION_ID_LENGTH,
  MAX_TEXT_MESSAGE_BYTES,
  MIN_SAMPLE_RATE,
  SUBPROTOCOL,
  TOKEN_SUBPROTOCOL_PREFIX,
} from '../protocol/seed-messages.ts';
export type {
  ClientMessage,
  ErrorCode,
  PingMessage,
  PromptMessage,
  ServerMessage,
  ServerMessageType,
  SttStartMessage,
  SttState,
  SttStopMessage,
} from '../protocol/seed-messages.ts';

/** Messages a slow reader may lose: a later one supersedes them. */
export const DROPPABLE_TYPES: ReadonlySet<ServerMessageType> = new Set(['stt_update', 'stt_stabilized']);
