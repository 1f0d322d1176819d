/**
 * The WebSocket protocol of /ws/stream: the seed's messages (seed-plan.md section 3.1) plus additive fields.
 * Shared by the server and the typed client (src/client/earshot-client.ts).
 */

/** Sample rate of binary PCM16 frames when stt_start names none (the seed's fixed rate). */
export const DEFAULT_SAMPLE_RATE = 16000;
export { MAX_SAMPLE_RATE, MIN_SAMPLE_RATE } from '../audio/resample.ts';
/** Largest binary audio frame the server accepts (bigger ones are answered with AUDIO_FRAME_TOO_LARGE). */
export const MAX_AUDIO_FRAME_BYTES = 1024 * 1024;
/** Largest text (JSON) message the server accepts (bigger ones are answered with BAD_MESSAGE). */
export const MAX_TEXT_MESSAGE_BYTES = 64 * 1024;
/** Close code of a connection that sent no stt_start in time (4000-4999 are the application's; 408 as in HTTP). */
export const CLOSE_START_TIMEOUT = 4408;
/** Longest session_id the server accepts. */
export const MAX_SESSION_ID_LENGTH = 256;

// ---- client → server -------------------------------------------------------------------------------------------

export interface SttStartMessage {
  type: 'stt_start';
  session_id: string;
  /** Additive: rate of the PCM16 frames that follow, integer 8000..192000; default 16000. */
  sample_rate?: number;
}

export interface SttStopMessage {
  type: 'stt_stop';
  session_id?: string;
}

export interface PingMessage {
  type: 'ping';
}

/** A chat prompt: kept in the connection's conversation, and answered when EARSHOT_CHAT_URL names an assistant. */
export interface PromptMessage {
  type: 'prompt';
  [key: string]: unknown;
}

export type ClientMessage = SttStartMessage | SttStopMessage | PingMessage | PromptMessage;

// ---- server → client -------------------------------------------------------------------------------------------

export type SttState = 'idle' | 'listening' | 'recording' | 'transcribing';

export type ErrorCode =
  | 'BAD_MESSAGE'
  | 'UNKNOWN_TYPE'
  | 'NOT_LISTENING'
  | 'AUDIO_FRAME_TOO_LARGE'
  | 'OVERLOADED'
  | 'CLIENT_LIMIT'
  | 'START_TIMEOUT'
  | 'AUDIO_IDLE_TIMEOUT'
  | 'SAMPLE_RATE_MISMATCH'
  | 'MODEL_LOAD_ERROR'
  | 'PROCESSING_TIMEOUT'
  | 'TRANSCRIPTION_FAILED'
  | 'VAD_FAILED'
  | 'SHUTTING_DOWN'
  | 'CHAT_FAILED'
  | 'INTERNAL_ERROR';

/** session_id is the client's id from stt_start (null only for errors before any stt_start named one). */
interface Sid {
  session_id: string | null;
}

export type ServerMessage =
  | ({ type: 'stt_listening'; sample_rate: number } & Sid)
  | ({ type: 'stt_vad_start' } & Sid)
  | ({ type: 'stt_vad_stop' } & Sid)
  | ({ type: 'stt_recording_start'; utterance: number; start: number } & Sid)
  | ({ type: 'stt_recording_stop'; utterance: number; start: number; end: number } & Sid)
  | ({ type: 'stt_update'; text: string; utterance: number } & Sid)
  | ({ type: 'stt_stabilized'; text: string; utterance: number } & Sid)
  | ({
      type: 'stt_final';
      text: string;
      /** Additive: 1-based utterance number within this stt_start..stt_stop cycle. */
      utterance: number;
      /** Additive: seconds since the cycle's first audio sample (speech onset / end). */
      start: number;
      end: number;
      /** Additive: wall time from the end-of-speech decision (stt_recording_stop) to this message. */
      latency_ms: number;
      /** Additive: engine time of the final transcription. */
      processing_ms: number;
      /** Additive: the model that produced the text. */
      model: string;
    } & Sid)
  | ({ type: 'stt_discarded'; utterance: number; reason: 'too_short' | 'no_text' } & Sid)
  | ({ type: 'stt_state'; state: SttState } & Sid)
  | ({ type: 'stt_error'; error: string; code: ErrorCode; utterance?: number } & Sid)
  | ({ type: 'assistant_delta'; text: string } & Sid)
  | ({ type: 'assistant_done'; text: string } & Sid)
  | { type: 'pong' };

export type ServerMessageType = ServerMessage['type'];

/** Messages a slow reader may lose: a later one supersedes them. */
export const DROPPABLE_TYPES: ReadonlySet<ServerMessageType> = new Set(['stt_update', 'stt_stabilized']);
