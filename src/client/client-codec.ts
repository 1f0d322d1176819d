/**
 * The client's side of the /ws/stream wire format: outgoing messages and audio frames, and incoming messages as typed
 * events. Incoming text is parsed by parseServerMessage (src/protocol/seed-messages.ts, shared with the server).
 */
import { float32ToPcm16 } from '../audio/pcm.ts';
import type { ErrorCode, ServerMessage, ServerMessageOf } from '../protocol/seed-messages.ts';
import type { ConnectionInfo, ConnectionState } from './socket-transport.ts';

export type Msg<T extends ServerMessage['type']> = ServerMessageOf<T>;

/** A final of this client's session, with where it lies on the client's own audio stream (seconds, across reconnects). */
export type SessionFinal = Msg<'stt_final'> & { streamStart?: number; streamEnd?: number };

/** A session resumed on a new connection. */
export interface Reconnect {
  /** Close code of the lost connection (1012: the instance drained; 1006: it vanished). */
  code: number;
  /** From the loss to stt_listening on the new connection, ms. */
  gapMs: number;
  /** Seconds of audio sent again. */
  resentSeconds: number;
}

/** Event name → payload. Protocol messages use short names; 'message' gets every message. */
export interface ClientEvents {
  message: ServerMessage;
  listening: Msg<'stt_listening'>;
  vadStart: Msg<'stt_vad_start'>;
  vadStop: Msg<'stt_vad_stop'>;
  recordingStart: Msg<'stt_recording_start'>;
  recordingStop: Msg<'stt_recording_stop'>;
  partial: Msg<'stt_update'>;
  stabilized: Msg<'stt_stabilized'>;
  /** Each utterance's final once: a final for audio already answered (after a resend) is not reported. */
  final: SessionFinal;
  discarded: Msg<'stt_discarded'>;
  state: Msg<'stt_state'>;
  error: Msg<'stt_error'>;
  /** News about the input that is not an error, e.g. INPUT_TOO_QUIET. */
  notice: Msg<'stt_notice'>;
  pong: Msg<'pong'>;
  assistantDelta: Msg<'assistant_delta'>;
  assistantDone: Msg<'assistant_done'>;
  /** The connection's state changed ('reconnecting' is repeated with each new delay). */
  connection: { state: ConnectionState } & ConnectionInfo;
  /** A socket opened; `reconnected` after the first (the session, if any, has been resumed). */
  open: { reconnected: boolean };
  /** The session listens again on a new connection, its unanswered audio resent. */
  reconnect: Reconnect;
  /** The client is closed for good (close() or, without reconnect, a lost connection). */
  close: { code: number; reason: string };
}

/** The event each server message is reported as. */
export const EVENT_OF: Record<ServerMessage['type'], keyof ClientEvents> = {
  stt_listening: 'listening',
  stt_vad_start: 'vadStart',
  stt_vad_stop: 'vadStop',
  stt_recording_start: 'recordingStart',
  stt_recording_stop: 'recordingStop',
  stt_update: 'partial',
  stt_stabilized: 'stabilized',
  stt_final: 'final',
  stt_discarded: 'discarded',
  stt_state: 'state',
  stt_error: 'error',
  stt_notice: 'notice',
  pong: 'pong',
  assistant_delta: 'assistantDelta',
  assistant_done: 'assistantDone',
};

/** Errors that answer a stt_start (it did not start). */
const START_ERRORS: ReadonlySet<string> = new Set(['OVERLOADED', 'CLIENT_LIMIT', 'MODEL_LOAD_ERROR', 'BAD_MESSAGE', 'BAD_KEYTERMS', 'SHUTTING_DOWN']);
/** With reconnect, a start refused with these is tried again on a new connection (another instance, say). */
export const RETRY_START_ERRORS: ReadonlySet<string> = new Set(['OVERLOADED', 'SHUTTING_DOWN']);

/**
 * Whether a stt_error refuses the start of `sessionId` (it did not start). With `retrying` (reconnect on), a draining or
 * full instance's refusal is not final: another connection is tried.
 */
export function refusesStart(m: Msg<'stt_error'>, sessionId: string, retrying: boolean): boolean {
  return START_ERRORS.has(m.code) && (m.session_id === sessionId || m.session_id === null) && !(retrying && RETRY_START_ERRORS.has(m.code));
}

export class EarshotError extends Error {
  constructor(
    readonly code: ErrorCode | 'CLOSED' | 'TIMEOUT',
    message: string,
  ) {
    super(message);
    this.name = 'EarshotError';
  }
}

/**
 * stt_start; the rate only when the caller gave one (the seed's clients never do), keyterms where there are any, agc
 * only when the caller set it (the server's default otherwise).
 */
export function startMessage(sessionId: string | undefined, sampleRate?: number, keyterms?: string[], agc?: boolean): Record<string, unknown> {
  const msg: Record<string, unknown> = { type: 'stt_start', session_id: sessionId };
  if (sampleRate !== undefined) msg.sample_rate = sampleRate;
  if (keyterms?.length) msg.keyterms = keyterms;
  if (agc !== undefined) msg.agc = agc;
  return msg;
}

/** Float samples in [-1, 1] → PCM16 little-endian bytes. */
export function toPcm16(samples: Float32Array): Uint8Array {
  const pcm = float32ToPcm16(samples); // little-endian on every platform Node and browsers run on
  return new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}

/** The bytes of a frame given as a buffer or a view (no copy). */
export function frameBytes(pcm: ArrayBuffer | ArrayBufferView): Uint8Array {
  return pcm instanceof ArrayBuffer ? new Uint8Array(pcm) : new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength);
}
