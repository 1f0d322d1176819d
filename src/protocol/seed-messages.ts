/**
 * The seed's WebSocket protocol on /ws/stream (seed-plan.md section 3.1) plus Earshot's additive fields: the one
 * definition of its wire types, imported by the server, the Node client and the browser client. Pure: no Node-only
 * and no DOM-only imports.
 *
 * Client → server: the JSON text frames below, and binary frames of raw PCM16 little-endian mono audio at the rate
 * declared by `sample_rate` in stt_start (16 kHz when absent).
 */

/** Sample rate of binary PCM16 frames when stt_start names none (the seed's fixed rate). */
export const DEFAULT_SAMPLE_RATE = 16000;
/** Input rates accepted from clients and files (WAV headers, decoded uploads): the range of real audio devices. */
export const MIN_SAMPLE_RATE = 8000;
export const MAX_SAMPLE_RATE = 192000;
/** Largest binary audio frame the server accepts (bigger ones are answered with AUDIO_FRAME_TOO_LARGE). */
export const MAX_AUDIO_FRAME_BYTES = 1024 * 1024;
/** Largest text (JSON) message the server accepts (bigger ones are answered with BAD_MESSAGE). */
export const MAX_TEXT_MESSAGE_BYTES = 64 * 1024;
/** Close code of a connection that sent no stt_start in time (4000-4999 are the application's; 408 as in HTTP). */
export const CLOSE_START_TIMEOUT = 4408;
/** Longest session_id the server accepts. */
export const MAX_SESSION_ID_LENGTH = 256;
/** The WebSocket subprotocol the server selects; a browser may add `token.<t>` beside it to authenticate. */
export const SUBPROTOCOL = 'earshot';
export const TOKEN_SUBPROTOCOL_PREFIX = 'token.';

// ---- client → server -------------------------------------------------------------------------------------------

export interface SttStartMessage {
  type: 'stt_start';
  session_id: string;
  /** Additive: rate of the PCM16 frames that follow, integer 8000..192000; default 16000. */
  sample_rate?: number;
  /** Additive: adaptive gain before the VAD, so quiet talkers are heard (docs/audio-gain.md); default true. */
  agc?: boolean;
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
  text?: string;
  session_id?: string;
  [key: string]: unknown;
}

export type ClientMessage = SttStartMessage | SttStopMessage | PingMessage | PromptMessage;

// ---- server → client -------------------------------------------------------------------------------------------

export type SttState = 'idle' | 'listening' | 'recording' | 'transcribing';

export const STT_STATES: readonly SttState[] = ['idle', 'listening', 'recording', 'transcribing'];

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
  | 'BAD_KEYTERMS'
  | 'VAD_FAILED'
  | 'SHUTTING_DOWN'
  | 'CHAT_FAILED'
  | 'INTERNAL_ERROR';

/** Codes of stt_notice: news about the input that is not an error (the session goes on). */
export type NoticeCode = 'INPUT_TOO_QUIET';

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
  /** start/end (additive): the audio judged to hold no speech, as on stt_final. */
  | ({ type: 'stt_discarded'; utterance: number; reason: 'too_short' | 'no_text'; start: number; end: number } & Sid)
  | ({ type: 'stt_state'; state: SttState } & Sid)
  | ({ type: 'stt_error'; error: string; code: ErrorCode; utterance?: number } & Sid)
  /** Additive: e.g. INPUT_TOO_QUIET, once per cycle, when speech stays too quiet even at the most gain. */
  | ({ type: 'stt_notice'; code: NoticeCode; message: string } & Sid)
  | ({ type: 'assistant_delta'; text: string } & Sid)
  | ({ type: 'assistant_done'; text: string } & Sid)
  | { type: 'pong' };

export type ServerMessageType = ServerMessage['type'];
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>;

// ---- helpers (pure) --------------------------------------------------------------------------------------------

const TEXT_TYPES: ReadonlySet<string> = new Set(['stt_update', 'stt_stabilized', 'stt_final', 'assistant_delta']);
const OTHER_TYPES: ReadonlySet<string> = new Set([
  'stt_listening',
  'stt_vad_start',
  'stt_vad_stop',
  'stt_recording_start',
  'stt_recording_stop',
  'stt_discarded',
  'pong',
  'assistant_done',
]);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Parses one text frame from the server. Returns null for anything that is not a well-formed message we know
 * (unknown types are additive extensions: ignored, never an error). A client trusts the server for the fields it
 * does not check here.
 */
export function parseServerMessage(data: string): ServerMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isRecord(value) || typeof value.type !== 'string') return null;
  if (value.session_id !== undefined && value.session_id !== null && typeof value.session_id !== 'string') return null;
  const type = value.type;
  const message = value as unknown as ServerMessage;
  if (TEXT_TYPES.has(type)) return typeof value.text === 'string' ? message : null;
  if (OTHER_TYPES.has(type)) return message;
  if (type === 'stt_state') return typeof value.state === 'string' && (STT_STATES as readonly string[]).includes(value.state) ? message : null;
  if (type === 'stt_error') return typeof value.error === 'string' && typeof value.code === 'string' ? message : null;
  if (type === 'stt_notice') return typeof value.code === 'string' && typeof value.message === 'string' ? message : null;
  return null;
}

/** A random UUID v4 (crypto.randomUUID exists only in secure contexts; getRandomValues everywhere). */
export function newSessionId(): string {
  const c = globalThis.crypto;
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
