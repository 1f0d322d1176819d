import { compileKeyterms, KeytermError, openaiKeyterms, type Keyterm } from '../../asr/keyterms.ts';
import { randomUUID } from 'node:crypto';
import { decodeG711, type G711Law } from '../../audio/g711.ts';
import type { RecorderConfig } from '../../recorder/recorder-config.ts';
import type { ErrorCode } from '../../protocol/seed-messages.ts';
import { TranscriptionSession, type SessionEvent, type SessionHost } from '../transcription-session.ts';
import { socketTransport, toBuffer, WebSocketProtocol, type WebSocketLike } from './websocket-adapter.ts';

/**
 * OpenAI's Realtime API in transcription mode (/v1/realtime?intent=transcription), as the `openai` npm package's
 * `resources/realtime` types define it: the GA names (`session.update` with `type: "transcription"` and
 * `audio.input`) and the beta ones (`transcription_session.update`, or a flat `session.update` with
 * `input_audio_format` / `turn_detection`), which LiveKit's plugin and Jigasi still send.
 * In server-VAD mode (the default) each utterance our VAD finds is one item: speech_started, speech_stopped,
 * committed, transcription deltas (the stabilized text as it grows), completed (the final). With
 * `turn_detection: null` the client commits: everything appended since the last commit becomes one item.
 */

/** Largest text frame on this route: audio arrives base64 in JSON (8 MiB ≈ 2.9 min of 24 kHz PCM16). */
export const OPENAI_MAX_TEXT_BYTES = 8 * 1024 * 1024;

type Format = { kind: 'pcm16'; rate: number } | { kind: G711Law };

interface Settings {
  format: Format;
  /** null: manual commits. */
  turnDetection: { silenceMs: number; prefixMs: number } | null;
  model: string;
  language: string;
  /** `transcription.keywords` and the words of `transcription.prompt` (docs/keyterms.md). */
  keyterms: Keyterm[];
  prompt?: string;
  keywords?: string[];
}

/** A cycle is one item in manual mode; in server-VAD mode, a run of utterances (one item each). */
interface CycleTag {
  /** Audio position (ms since the connection's first appended sample) where the cycle began. */
  offsetMs: number;
  /** Manual mode: the item this cycle commits to, and the finals collected for it. */
  manualItem?: { id: string; texts: string[]; committed: boolean };
}

const DEFAULT_SETTINGS: Settings = {
  format: { kind: 'pcm16', rate: 24000 },
  turnDetection: { silenceMs: 500, prefixMs: 300 },
  model: 'earshot',
  language: 'en',
  keyterms: [],
};

/** Our error code → OpenAI's error type. */
function errorType(code: ErrorCode | string): string {
  return code === 'OVERLOADED' || code === 'SHUTTING_DOWN' || code === 'INTERNAL_ERROR' || code === 'MODEL_LOAD_ERROR' ? 'server_error' : 'invalid_request_error';
}

export class OpenAIRealtimeSession extends WebSocketProtocol<CycleTag> {
  readonly session: TranscriptionSession<CycleTag>;
  private settings: Settings = DEFAULT_SETTINGS;
  /** The client used the beta names: answer with them. */
  private beta: boolean;
  /** Bytes of input (in its own format) appended so far, for audio_start_ms / audio_end_ms. */
  private appendedMs = 0;
  private lastItemId: string | null = null;
  /** Server-VAD mode: item ids by utterance number of the current cycle, and their stabilized text so far. */
  private items = new Map<number, { id: string; sent: string }>();

  constructor(
    ws: WebSocketLike,
    private readonly host: SessionHost,
    options: { beta?: boolean } = {},
  ) {
    super(ws);
    this.beta = options.beta ?? false;
    this.session = new TranscriptionSession<CycleTag>(host, socketTransport(ws), (event, tag) => this.onEvent(event, tag), 'openai-realtime');
    this.send({ type: this.beta ? 'transcription_session.created' : 'session.created', session: this.describe() });
  }

  handleMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (isBinary) {
      this.fail('invalid_event', 'binary frames are not part of this protocol; send input_audio_buffer.append with base64 audio');
      return;
    }
    const buf = toBuffer(data);
    let msg: unknown;
    try {
      msg = JSON.parse(buf.toString('utf8'));
    } catch {
      this.fail('invalid_json', 'events must be JSON objects with a "type"');
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.fail('invalid_event', 'events must be JSON objects with a "type"');
      return;
    }
    const m = msg as Record<string, unknown>;
    const eventId = typeof m.event_id === 'string' ? m.event_id.slice(0, 256) : undefined;
    switch (m.type) {
      case 'session.update':
      case 'transcription_session.update':
        if (m.type === 'transcription_session.update') this.beta = true;
        this.update(m.session, eventId);
        return;
      case 'input_audio_buffer.append':
        this.append(m.audio, eventId);
        return;
      case 'input_audio_buffer.commit':
        this.commit(eventId);
        return;
      case 'input_audio_buffer.clear':
        this.session.clear();
        this.send({ type: 'input_audio_buffer.cleared' });
        return;
      default:
        this.fail('invalid_event', `unknown or unsupported event type ${JSON.stringify(m.type ?? null).slice(0, 80)} for a transcription session`, eventId, 'type');
    }
  }

  // ---- client events --------------------------------------------------------------------------------------------

  private update(raw: unknown, eventId?: string): void {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
      this.fail('invalid_value', 'session must be an object', eventId, 'session');
      return;
    }
    const s = raw as Record<string, unknown>;
    const next: Settings = { ...this.settings };
    // GA: session.audio.input.{format, turn_detection, transcription}; beta: flat input_audio_format etc.
    const input = isObject(s.audio) && isObject(s.audio.input) ? s.audio.input : undefined;
    if (!input && (s.input_audio_format !== undefined || s.input_audio_transcription !== undefined)) this.beta = true;
    const format = input ? input.format : s.input_audio_format;
    if (format !== undefined) {
      const parsed = parseFormat(format);
      if (!parsed) {
        this.fail('invalid_value', `unsupported input audio format ${JSON.stringify(format).slice(0, 80)}; use audio/pcm (24 kHz), audio/pcmu or audio/pcma`, eventId, 'session.audio.input.format');
        return;
      }
      next.format = parsed;
    }
    const turn = input ? input.turn_detection : s.turn_detection;
    if (turn === null) next.turnDetection = null;
    else if (turn !== undefined) {
      if (!isObject(turn) || (turn.type !== undefined && turn.type !== 'server_vad' && turn.type !== 'semantic_vad')) {
        this.fail('invalid_value', 'turn_detection must be null or {"type":"server_vad", ...}', eventId, 'session.audio.input.turn_detection');
        return;
      }
      next.turnDetection = {
        silenceMs: numberIn(turn.silence_duration_ms, 100, 10000) ?? DEFAULT_SETTINGS.turnDetection!.silenceMs,
        prefixMs: numberIn(turn.prefix_padding_ms, 0, 5000) ?? DEFAULT_SETTINGS.turnDetection!.prefixMs,
      };
    }
    const transcription = input ? input.transcription : s.input_audio_transcription;
    if (isObject(transcription)) {
      if (typeof transcription.model === 'string') next.model = transcription.model.slice(0, 100);
      if (typeof transcription.language === 'string') {
        if (transcription.language !== 'en' && !transcription.language.startsWith('en-')) {
          this.fail('invalid_value', `language ${JSON.stringify(transcription.language).slice(0, 40)} is not supported; Earshot's models are English only`, eventId, 'session.audio.input.transcription.language');
          return;
        }
        next.language = transcription.language;
      }
      if (transcription.prompt !== undefined || transcription.keywords !== undefined) {
        const prompt = typeof transcription.prompt === 'string' ? transcription.prompt : next.prompt;
        const keywords = transcription.keywords !== undefined ? transcription.keywords : next.keywords;
        try {
          const { keywords: own, fromPrompt } = openaiKeyterms(keywords, prompt);
          Object.assign(next, { prompt, keywords: own.map((k) => (k.weight === 1 ? k.text : `${k.text}:${k.weight}`)) });
          void this.applyKeyterms(own, fromPrompt, eventId);
        } catch (e) {
          if (!(e instanceof KeytermError)) throw e;
          this.fail('BAD_KEYTERMS', e.message, eventId, 'session.audio.input.transcription.keywords');
          return;
        }
      }
    }
    const changed = JSON.stringify(next.format) !== JSON.stringify(this.settings.format) || JSON.stringify(next.turnDetection) !== JSON.stringify(this.settings.turnDetection);
    this.settings = next;
    // New audio settings take effect from the next append: what was said so far is finished under the old ones.
    if (changed && this.session.listening) void this.session.stop();
    this.send({ type: this.beta ? 'transcription_session.updated' : 'session.updated', session: this.describe() });
  }

  /**
   * Keyterms take effect once they compile, the listening stream's in order with its audio; keywords that cannot
   * (a character the vocabulary lacks, over 500 tokens) get an error event and the previous list stays. The prompt's
   * words never refuse them: where they do not compile, the keywords go alone.
   */
  private async applyKeyterms(own: Keyterm[], fromPrompt: Keyterm[], eventId?: string): Promise<void> {
    const compiles = (list: Keyterm[]) => compileKeyterms(list).then(() => undefined, (e: unknown) => (e instanceof KeytermError ? e : Promise.reject(e)));
    const list = fromPrompt.length && !(await compiles([...own, ...fromPrompt])) ? [...own, ...fromPrompt] : own;
    const error = await compiles(list);
    if (error) return this.fail('BAD_KEYTERMS', error.message, eventId, 'session.audio.input.transcription.keywords');
    this.settings = { ...this.settings, keyterms: list };
    if (this.session.listening) this.session.updateKeyterms(list);
  }

  private append(audio: unknown, eventId?: string): void {
    if (typeof audio !== 'string' || !BASE64.test(audio) || audio.length % 4 !== 0) {
      this.fail('invalid_value', 'audio must be base64-encoded audio in the session\'s input format', eventId, 'audio');
      return;
    }
    const bytes = Buffer.from(audio, 'base64');
    const format = this.settings.format;
    const pcm = format.kind === 'pcm16' ? bytes : decodeG711(bytes, format.kind);
    const rate = format.kind === 'pcm16' ? format.rate : 8000;
    if (!this.session.listening) {
      const manual = this.settings.turnDetection === null;
      const started = this.session.start({
        sampleRate: rate,
        tag: { offsetMs: this.appendedMs, manualItem: manual ? { id: newItemId(), texts: [], committed: false } : undefined },
        recorder: this.recorderSettings(),
        keyterms: this.settings.keyterms,
      });
      if (!started) return;
      this.items = new Map();
    }
    this.session.appendAudio(pcm);
    this.appendedMs += (pcm.length / 2 / rate) * 1000;
  }

  private commit(eventId?: string): void {
    const tag = this.session.tag;
    if (!tag) {
      this.fail('input_audio_buffer_commit_empty', 'the input audio buffer is empty: append audio before committing', eventId);
      return;
    }
    if (!tag.manualItem) {
      // Server-VAD mode: a commit ends the utterance in progress now (its item completes as usual).
      void this.session.stop();
      return;
    }
    const item = tag.manualItem;
    item.committed = true;
    this.send({ type: 'input_audio_buffer.committed', item_id: item.id, previous_item_id: this.lastItemId });
    this.lastItemId = item.id;
    void this.session.stop().then(() => {
      this.send({ type: 'conversation.item.input_audio_transcription.completed', item_id: item.id, content_index: 0, transcript: item.texts.join(' '), usage: { type: 'duration', seconds: 0 } });
    });
  }

  private recorderSettings(): Partial<RecorderConfig> | undefined {
    const turn = this.settings.turnDetection;
    if (!turn) return undefined;
    return { postSpeechSilenceDuration: turn.silenceMs / 1000, preRecordingBufferDuration: Math.max(turn.prefixMs / 1000, 0.2) };
  }

  // ---- server events --------------------------------------------------------------------------------------------

  private onEvent(event: SessionEvent, tag: CycleTag | undefined): void {
    const manual = tag?.manualItem;
    switch (event.type) {
      case 'speech_started': {
        if (manual) return;
        const item = { id: newItemId(), sent: '' };
        this.items.set(event.utterance, item);
        this.send({ type: 'input_audio_buffer.speech_started', item_id: item.id, audio_start_ms: Math.round(tag!.offsetMs + event.start * 1000) });
        return;
      }
      case 'speech_stopped': {
        const item = this.items.get(event.utterance);
        if (manual || !item) return;
        this.send({ type: 'input_audio_buffer.speech_stopped', item_id: item.id, audio_end_ms: Math.round(tag!.offsetMs + event.end * 1000) });
        this.send({ type: 'input_audio_buffer.committed', item_id: item.id, previous_item_id: this.lastItemId });
        this.lastItemId = item.id;
        return;
      }
      case 'stabilized': {
        const item = this.items.get(event.utterance);
        if (manual || !item || !event.text.startsWith(item.sent) || event.text.length === item.sent.length) return;
        const delta = event.text.slice(item.sent.length);
        item.sent = event.text;
        this.send({ type: 'conversation.item.input_audio_transcription.delta', item_id: item.id, content_index: 0, delta });
        return;
      }
      case 'final': {
        if (manual) {
          if (event.text) manual.texts.push(event.text);
          return;
        }
        const item = this.items.get(event.utterance);
        if (!item) return;
        this.items.delete(event.utterance);
        this.send({
          type: 'conversation.item.input_audio_transcription.completed',
          item_id: item.id,
          content_index: 0,
          transcript: event.text,
          usage: { type: 'duration', seconds: Math.round((event.end - event.start) * 1000) / 1000 },
        });
        return;
      }
      case 'discarded': {
        // The item was announced (committed): close it with no text rather than leave it open.
        const item = this.items.get(event.utterance);
        if (manual || !item) return;
        this.items.delete(event.utterance);
        this.send({ type: 'conversation.item.input_audio_transcription.completed', item_id: item.id, content_index: 0, transcript: '', usage: { type: 'duration', seconds: 0 } });
        return;
      }
      case 'error': {
        const item = event.utterance !== undefined ? this.items.get(event.utterance) : undefined;
        if (item) {
          this.items.delete(event.utterance!);
          this.send({ type: 'conversation.item.input_audio_transcription.failed', item_id: item.id, content_index: 0, error: { type: errorType(event.code), code: event.code, message: event.message } });
          return;
        }
        this.send({ type: 'error', error: { type: errorType(event.code), code: event.code, message: event.message, param: null, event_id: null } });
        return;
      }
      default:
        return; // state, vad and partial events have no counterpart: deltas follow the stabilized text
    }
  }

  /** A client error in OpenAI's shape (counted in metrics as BAD_MESSAGE). */
  private fail(code: string, message: string, eventId?: string, param?: string): void {
    this.host.metrics.errors.inc({ code: 'BAD_MESSAGE' });
    this.send({ type: 'error', error: { type: 'invalid_request_error', code, message, param: param ?? null, event_id: eventId ?? null } });
  }

  private describe(): Record<string, unknown> {
    const s = this.settings;
    const turn = s.turnDetection && { type: 'server_vad', silence_duration_ms: s.turnDetection.silenceMs, prefix_padding_ms: s.turnDetection.prefixMs, threshold: 0.5 };
    const format = s.format.kind === 'pcm16' ? { type: 'audio/pcm', rate: s.format.rate } : { type: s.format.kind === 'mulaw' ? 'audio/pcmu' : 'audio/pcma' };
    if (this.beta) {
      return {
        object: 'realtime.transcription_session',
        input_audio_format: s.format.kind === 'pcm16' ? 'pcm16' : s.format.kind === 'mulaw' ? 'g711_ulaw' : 'g711_alaw',
        input_audio_transcription: { model: s.model, language: s.language, prompt: s.prompt, keywords: s.keywords },
        turn_detection: turn,
      };
    }
    return { type: 'transcription', object: 'realtime.transcription_session', audio: { input: { format, transcription: { model: s.model, language: s.language, prompt: s.prompt, keywords: s.keywords }, turn_detection: turn } } };
  }

  private send(event: Record<string, unknown>): void {
    if (this.ws.readyState === 1) this.ws.send(JSON.stringify({ event_id: `event_${randomUUID()}`, ...event }));
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function newItemId(): string {
  return `item_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function numberIn(v: unknown, min: number, max: number): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : undefined;
}

/** GA `{type: 'audio/pcm', rate}` / `audio/pcmu` / `audio/pcma`, or the beta names. */
function parseFormat(f: unknown): Format | undefined {
  const type = isObject(f) ? f.type : f;
  if (type === 'audio/pcm' || type === 'pcm16') {
    const rate = isObject(f) && f.rate !== undefined ? f.rate : 24000;
    return typeof rate === 'number' && Number.isInteger(rate) && rate >= 8000 && rate <= 48000 ? { kind: 'pcm16', rate } : undefined;
  }
  if (type === 'audio/pcmu' || type === 'g711_ulaw') return { kind: 'mulaw' };
  if (type === 'audio/pcma' || type === 'g711_alaw') return { kind: 'alaw' };
  return undefined;
}
