/**
 * The WebSocket protocol (seed-plan 3.1 plus Earshot's additive fields), typed. DOM-free.
 *
 * Client → server: JSON text frames below, and binary frames of raw PCM16 little-endian mono audio at the rate
 * declared by `sample_rate` in stt_start (16 kHz when absent).
 */
export type SttState = 'idle' | 'listening' | 'recording' | 'transcribing';

export const STT_STATES: readonly SttState[] = ['idle', 'listening', 'recording', 'transcribing'];

export type ClientMessage =
  | { type: 'stt_start'; session_id: string; sample_rate?: number }
  | { type: 'stt_stop'; session_id: string }
  | { type: 'ping' }
  | { type: 'prompt'; text: string; session_id: string };

interface Tagged {
  session_id?: string;
}

export type ServerMessage = Tagged &
  (
    | { type: 'stt_listening' }
    | { type: 'stt_vad_start' }
    | { type: 'stt_vad_stop' }
    | { type: 'stt_recording_start' }
    | { type: 'stt_recording_stop' }
    | { type: 'stt_update'; text: string }
    | { type: 'stt_stabilized'; text: string }
    | { type: 'stt_final'; text: string; utterance?: number; start?: number; end?: number; latency_ms?: number }
    | { type: 'stt_discarded'; utterance?: number; reason?: string; start?: number; end?: number }
    | { type: 'stt_state'; state: SttState }
    | { type: 'stt_error'; error: string; code?: string }
    | { type: 'pong' }
    | { type: 'assistant_delta'; text: string }
    | { type: 'assistant_done'; text?: string }
  );

export type ServerMessageType = ServerMessage['type'];
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>;

const TEXT_TYPES = new Set(['stt_update', 'stt_stabilized', 'stt_final', 'assistant_delta']);
const BARE_TYPES = new Set([
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
 * (unknown types are additive extensions: ignored, never an error).
 */
export function parseServerMessage(data: string): ServerMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isRecord(value) || typeof value.type !== 'string') return null;
  // null: an error from before any stt_start named a session.
  if (value.session_id === null) delete value.session_id;
  if (value.session_id !== undefined && typeof value.session_id !== 'string') return null;
  const type = value.type;
  if (TEXT_TYPES.has(type)) return typeof value.text === 'string' ? (value as unknown as ServerMessage) : null;
  if (BARE_TYPES.has(type)) return value as unknown as ServerMessage;
  if (type === 'stt_state') {
    return typeof value.state === 'string' && (STT_STATES as readonly string[]).includes(value.state)
      ? (value as unknown as ServerMessage)
      : null;
  }
  if (type === 'stt_error') {
    const error = typeof value.error === 'string' ? value.error : typeof value.message === 'string' ? value.message : '';
    return { ...(value as object), type: 'stt_error', error, code: typeof value.code === 'string' ? value.code : undefined };
  }
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
