import { KeytermError, parseKeyterms, type Keyterm } from '../../asr/keyterms.ts';
import { Assistant } from '../assistant.ts';
import type { ChatEndpoint } from '../chat-completions.ts';
import {
  DEFAULT_SAMPLE_RATE,
  MAX_AUDIO_FRAME_BYTES,
  MAX_SAMPLE_RATE,
  MAX_SESSION_ID_LENGTH,
  MAX_TEXT_MESSAGE_BYTES,
  MIN_SAMPLE_RATE,
  type ServerMessage,
} from '../../protocol/seed-messages.ts';
import { TranscriptionSession, type SessionEvent, type SessionHost } from '../transcription-session.ts';
import { socketTransport, toBuffer, WebSocketProtocol, type WebSocketLike } from './websocket-adapter.ts';

/** The seed's session_id of a cycle (null only for errors before any stt_start named one). */
type Sid = string | null;

/**
 * The seed's WebSocket protocol (/ws/stream): JSON control messages and binary PCM16 frames in, stt_* messages out.
 * Only translates: the session core runs the cycles. The connection may run many stt_start/stt_stop cycles, and keeps a
 * conversation of prompts answered by the assistant when one is configured.
 */
export class SeedWebSocketSession extends WebSocketProtocol<Sid> {
  readonly session: TranscriptionSession<Sid>;
  private readonly assistant: Assistant;
  /** NOT_LISTENING is reported once per burst of audio frames (reset by any text message). */
  private notListeningReported = false;
  private lastSessionId: Sid = null;

  constructor(
    ws: WebSocketLike,
    private readonly host: SessionHost,
    chat?: ChatEndpoint,
  ) {
    super(ws);
    // The seed's clients connect, start, stream: a connection left unused is closed (4408), a silent cycle stopped.
    this.session = new TranscriptionSession<Sid>(host, socketTransport(ws, { closeIdle: true }), (event, sid) => this.onEvent(event, sid), 'seed');
    this.assistant = new Assistant(chat);
  }

  get id(): string {
    return this.session.id;
  }

  get conversation() {
    return this.assistant.conversation;
  }

  /** Resolves when the control messages received so far have been carried out. */
  idle(): Promise<void> {
    return this.session.idle();
  }

  handleMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    const buf = toBuffer(data);
    if (isBinary) this.handleAudio(buf);
    else this.handleText(buf);
  }

  override handleClose(): void {
    this.assistant.close();
    super.handleClose();
  }

  // ---- in -----------------------------------------------------------------------------------------------------

  private handleAudio(buf: Buffer): void {
    if (buf.length > MAX_AUDIO_FRAME_BYTES) {
      this.session.error('AUDIO_FRAME_TOO_LARGE', `audio frame of ${buf.length} bytes is over the limit of ${MAX_AUDIO_FRAME_BYTES} bytes; send smaller frames (e.g. 100 ms)`, this.session.tag ?? this.lastSessionId);
      return;
    }
    if (this.session.appendAudio(buf) || this.host.shuttingDown) return;
    if (!this.notListeningReported) {
      this.notListeningReported = true;
      this.session.error('NOT_LISTENING', 'audio received while not listening; send {"type":"stt_start","session_id":...} first', this.lastSessionId);
    }
  }

  private handleText(buf: Buffer): void {
    this.notListeningReported = false;
    if (buf.length > MAX_TEXT_MESSAGE_BYTES) {
      this.session.error('BAD_MESSAGE', `text message of ${buf.length} bytes is over the limit of ${MAX_TEXT_MESSAGE_BYTES} bytes`, this.lastSessionId);
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(buf.toString('utf8'));
    } catch {
      this.session.error('BAD_MESSAGE', 'text messages must be JSON objects such as {"type":"stt_start","session_id":"..."}', this.lastSessionId);
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.session.error('BAD_MESSAGE', 'text messages must be JSON objects with a "type"', this.lastSessionId);
      return;
    }
    const m = msg as Record<string, unknown>;
    const sid = typeof m.session_id === 'string' && m.session_id.length <= MAX_SESSION_ID_LENGTH ? m.session_id : this.lastSessionId;
    switch (m.type) {
      case 'stt_start':
        this.onStart(m);
        return;
      case 'stt_stop':
        void this.session.stop();
        return;
      case 'ping':
        this.send({ type: 'pong' });
        return;
      case 'prompt':
        this.onPrompt(m);
        return;
      default:
        if (typeof m.type === 'object' && m.type !== null) {
          this.session.error('BAD_MESSAGE', `"type" must be a string (got ${describe(m.type)})`, sid);
          return;
        }
        this.session.error(
          'UNKNOWN_TYPE',
          m.type === undefined ? 'message has no "type"' : `unknown message type ${describe(m.type)}; expected stt_start, stt_stop, ping or prompt`,
          sid,
        );
    }
  }

  private onStart(m: Record<string, unknown>): void {
    let sessionId: string;
    if (m.session_id === undefined || m.session_id === null || m.session_id === '') {
      sessionId = this.session.id; // the seed's fallback: a start without an id gets the connection's
    } else if (typeof m.session_id !== 'string' || m.session_id.length > MAX_SESSION_ID_LENGTH) {
      this.session.error('BAD_MESSAGE', `session_id must be a string of at most ${MAX_SESSION_ID_LENGTH} characters`, this.lastSessionId);
      return;
    } else {
      sessionId = m.session_id;
    }
    const rate = m.sample_rate ?? DEFAULT_SAMPLE_RATE;
    if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < MIN_SAMPLE_RATE || rate > MAX_SAMPLE_RATE) {
      this.session.error('BAD_MESSAGE', `sample_rate must be an integer from ${MIN_SAMPLE_RATE} to ${MAX_SAMPLE_RATE} (got ${describe(rate)})`, sessionId);
      return;
    }
    if (m.agc !== undefined && typeof m.agc !== 'boolean') {
      this.session.error('BAD_MESSAGE', `agc must be true or false (got ${describe(m.agc)})`, sessionId);
      return;
    }
    const keyterms = this.keyterms(m.keyterms, sessionId);
    if (!keyterms) return;
    const recorder = m.agc === undefined ? undefined : { agc: m.agc };
    if (this.session.start({ sampleRate: rate, tag: sessionId, checkRate: true, keyterms, recorder })) this.lastSessionId = sessionId;
  }

  /** stt_start.keyterms (an additive extension: an array of strings, "word" or "word:weight"); undefined when refused. */
  private keyterms(specs: unknown, sessionId: string): Keyterm[] | undefined {
    try {
      return parseKeyterms(specs);
    } catch (e) {
      if (!(e instanceof KeytermError)) throw e;
      this.session.error('BAD_KEYTERMS', e.message, sessionId);
      return undefined;
    }
  }

  private onPrompt(m: Record<string, unknown>): void {
    const text = [m.text, m.prompt, m.content, m.message].find((v): v is string => typeof v === 'string') ?? '';
    const sid = typeof m.session_id === 'string' ? m.session_id : this.lastSessionId;
    this.assistant.prompt(text, {
      delta: (t) => this.send({ type: 'assistant_delta', text: t, session_id: sid }),
      done: (t) => this.send({ type: 'assistant_done', text: t, session_id: sid }),
      failed: (message) => this.session.error('CHAT_FAILED', message, sid),
    });
  }

  // ---- out ----------------------------------------------------------------------------------------------------

  private onEvent(event: SessionEvent, tag: Sid | undefined): void {
    const sid = tag ?? this.lastSessionId;
    switch (event.type) {
      case 'listening':
        return this.send({ type: 'stt_listening', session_id: sid, sample_rate: event.sampleRate });
      case 'state':
        return this.send({ type: 'stt_state', state: event.state, session_id: sid });
      case 'vad_start':
        return this.send({ type: 'stt_vad_start', session_id: sid });
      case 'vad_stop':
        return this.send({ type: 'stt_vad_stop', session_id: sid });
      case 'speech_started':
        return this.send({ type: 'stt_recording_start', session_id: sid, utterance: event.utterance, start: event.start });
      case 'speech_stopped':
        return this.send({ type: 'stt_recording_stop', session_id: sid, utterance: event.utterance, start: event.start, end: event.end });
      case 'partial':
        return this.send({ type: 'stt_update', text: event.text, session_id: sid, utterance: event.utterance });
      case 'stabilized':
        return this.send({ type: 'stt_stabilized', text: event.text, session_id: sid, utterance: event.utterance });
      case 'final':
        return this.send({
          type: 'stt_final',
          text: event.text,
          session_id: sid,
          utterance: event.utterance,
          start: event.start,
          end: event.end,
          latency_ms: event.latencyMs,
          processing_ms: event.processingMs,
          model: event.model,
        });
      case 'discarded':
        return this.send({ type: 'stt_discarded', session_id: sid, utterance: event.utterance, reason: event.reason, start: event.start, end: event.end });
      case 'notice':
        return this.send({ type: 'stt_notice', code: event.code, message: event.message, session_id: sid });
      case 'error': {
        const msg: ServerMessage = { type: 'stt_error', error: event.message, code: event.code, session_id: sid };
        if (event.utterance !== undefined) msg.utterance = event.utterance;
        return this.send(msg);
      }
    }
  }

  private send(msg: ServerMessage): void {
    if (this.ws.readyState === 1) this.ws.send(JSON.stringify(msg));
  }
}

/** A client's value in an error message: short, and safe for any depth of nesting (JSON.stringify is not). */
function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (value === null || typeof value !== 'object') return String(value);
  return 'an object';
}
