import { randomUUID } from 'node:crypto';
import { compileKeyterms, KeytermError, openaiKeyterms, type Keyterm } from '../../asr/keyterms.ts';
import { decodeG711 } from '../../audio/g711.ts';
import type { RecorderConfig } from '../../recorder/recorder-config.ts';
import type { ErrorCode } from '../../protocol/seed-messages.ts';
import { TranscriptionSession, type SessionEvent, type SessionHost } from '../transcription-session.ts';
import { DEFAULT_SETTINGS, describeSettings, updateSettings, withModel, type Settings } from './openai-realtime-settings.ts';
import { socketTransport, toBuffer, WebSocketProtocol, type WebSocketLike } from './websocket-adapter.ts';

/**
 * OpenAI's Realtime API in transcription mode (/v1/realtime?intent=transcription), as the `openai` npm package's
 * `resources/realtime` types define it: the GA names (`session.update` with `type: "transcription"` and
 * `audio.input`) and the beta ones (`transcription_session.update`, or a flat `session.update`), which LiveKit's
 * plugin and Jigasi still send. Turns, as OpenAI's:
 * - server VAD (the default): each utterance Earshot's VAD finds is one item: speech_started, speech_stopped,
 *   committed, deltas, completed. A client commit ends the utterance in progress at once.
 * - commit-driven (`turn_detection: null`, or a model OpenAI serves without turn detection such as
 *   gpt-realtime-whisper, the default of LiveKit's plugin): no VAD cuts the audio; each commit makes everything
 *   appended since the last one an item, which gets exactly one `...completed` (deltas first) or `...failed`.
 * An empty commit (under 100 ms of audio) gets OpenAI's `input_audio_buffer_commit_empty` error and the session goes
 * on with the audio it has.
 */

/** Largest text frame on this route: audio arrives base64 in JSON (8 MiB ≈ 2.9 min of 24 kHz PCM16). */
export const OPENAI_MAX_TEXT_BYTES = 8 * 1024 * 1024;

/** OpenAI refuses to commit less audio than this. */
const MIN_COMMIT_MS = 100;
/**
 * A commit-driven item is one utterance however long its pauses: the recorder's longest silence setting, and an item
 * longer than the models' window is cut at its quietest place and its parts joined.
 */
const COMMIT_SILENCE_SECONDS = 10;

/** An item being transcribed: its id, the text its deltas have carried so far. */
interface Item {
  id: string;
  sent: string;
  /** Commit-driven: the finals of the item's audio (one unless a pause over 10 s or a cut split it). */
  texts: string[];
  failure?: { code: ErrorCode; message: string };
  /** Server VAD: speech started and not yet stopped. */
  speaking?: boolean;
}

/** A cycle is one item when commit-driven; under server VAD, a run of utterances (one item each). */
interface CycleTag {
  /** Audio position (ms since the connection's first appended sample) where the cycle began. */
  offsetMs: number;
  manualItem?: Item;
}

/** Our error code → OpenAI's error type. */
function errorType(code: ErrorCode | string): string {
  return code === 'OVERLOADED' || code === 'SHUTTING_DOWN' || code === 'INTERNAL_ERROR' || code === 'MODEL_LOAD_ERROR' ? 'server_error' : 'invalid_request_error';
}

export class OpenAIRealtimeSession extends WebSocketProtocol<CycleTag> {
  readonly session: TranscriptionSession<CycleTag>;
  private settings: Settings;
  /** The client used the beta names: answer with them. */
  private beta: boolean;
  /** Audio appended so far, for audio_start_ms / audio_end_ms. */
  private appendedMs = 0;
  /** Audio appended since the last item was committed (what a commit would commit). */
  private uncommittedMs = 0;
  private lastItemId: string | null = null;
  /** Server-VAD mode: the items of the current cycle by utterance number. */
  private items = new Map<number, Item>();

  constructor(
    ws: WebSocketLike,
    private readonly host: SessionHost,
    options: { beta?: boolean; model?: string } = {},
  ) {
    super(ws);
    this.beta = options.beta ?? false;
    this.settings = withModel(DEFAULT_SETTINGS, options.model ?? undefined);
    this.session = new TranscriptionSession<CycleTag>(host, socketTransport(ws), (event, tag) => this.onEvent(event, tag), 'openai-realtime');
    this.send({ type: this.beta ? 'transcription_session.created' : 'session.created', session: this.describe() });
  }

  handleMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    if (isBinary) {
      this.fail('invalid_event', 'binary frames are not part of this protocol; send input_audio_buffer.append with base64 audio');
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(toBuffer(data).toString('utf8'));
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
        this.clear();
        return;
      default:
        this.fail('invalid_event', `unknown or unsupported event type ${JSON.stringify(m.type ?? null).slice(0, 80)} for a transcription session`, eventId, 'type');
    }
  }

  // ---- client events --------------------------------------------------------------------------------------------

  private update(raw: unknown, eventId?: string): void {
    const result = updateSettings(this.settings, raw);
    if ('code' in result) {
      this.fail(result.code, result.message, eventId, result.param);
      return;
    }
    if (result.beta) this.beta = true;
    const next = result.settings;
    if (result.keyterms) {
      try {
        const { keywords: own, fromPrompt } = openaiKeyterms(result.keyterms.keywords, result.keyterms.prompt);
        Object.assign(next, { prompt: result.keyterms.prompt, keywords: own.map((k) => (k.weight === 1 ? k.text : `${k.text}:${k.weight}`)) });
        void this.applyKeyterms(own, fromPrompt, eventId);
      } catch (e) {
        if (!(e instanceof KeytermError)) throw e;
        this.fail('BAD_KEYTERMS', e.message, eventId, 'session.audio.input.transcription.keywords');
        return;
      }
    }
    const changed = JSON.stringify(next.format) !== JSON.stringify(this.settings.format) || JSON.stringify(next.turnDetection) !== JSON.stringify(this.settings.turnDetection);
    // New audio settings take effect from the next append: what was said so far is finished under the old ones
    // (an uncommitted item is committed, so that its words are not lost).
    if (changed && this.session.listening) {
      if (this.session.tag?.manualItem && this.uncommittedMs >= MIN_COMMIT_MS) this.commit();
      else void this.session.stop();
    }
    this.settings = next;
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
        tag: { offsetMs: this.appendedMs, manualItem: manual ? newItem() : undefined },
        recorder: this.recorderSettings(),
        keyterms: this.settings.keyterms,
      });
      if (!started) return;
      this.items = new Map();
    }
    this.session.appendAudio(pcm);
    const ms = (pcm.length / 2 / rate) * 1000;
    this.appendedMs += ms;
    this.uncommittedMs += ms;
  }

  private commit(eventId?: string): void {
    const tag = this.session.tag;
    const uncommitted = this.uncommittedMs;
    if (tag?.manualItem) {
      if (uncommitted < MIN_COMMIT_MS) {
        this.commitEmpty(uncommitted, eventId);
        return;
      }
      const item = tag.manualItem;
      this.uncommittedMs = 0;
      this.committed(item);
      void this.session.stop().then(() => this.complete(item, uncommitted / 1000));
      return;
    }
    // Server VAD: the utterance in progress ends now (its item is committed and completes as usual); audio with no
    // speech in it becomes an item with no words, as OpenAI's would.
    const speaking = [...this.items.values()].some((i) => i.speaking);
    if (!speaking && uncommitted < MIN_COMMIT_MS) {
      this.commitEmpty(uncommitted, eventId);
      return;
    }
    this.uncommittedMs = 0;
    const before = this.lastItemId;
    void this.session.stop().then(() => {
      if (this.lastItemId !== before) return;
      const item = newItem();
      this.committed(item);
      this.complete(item);
    });
  }

  private commitEmpty(ms: number, eventId?: string): void {
    this.fail('input_audio_buffer_commit_empty', `Error committing input audio buffer: buffer too small. Expected at least ${MIN_COMMIT_MS}ms of audio, but buffer only has ${ms.toFixed(2)}ms of audio.`, eventId);
  }

  private clear(): void {
    const item = this.session.tag?.manualItem;
    this.session.clear();
    if (item) Object.assign(item, { texts: [], sent: '', failure: undefined });
    this.uncommittedMs = 0;
    this.send({ type: 'input_audio_buffer.cleared' });
  }

  private recorderSettings(): Partial<RecorderConfig> {
    const turn = this.settings.turnDetection;
    if (!turn) return { postSpeechSilenceDuration: COMMIT_SILENCE_SECONDS };
    // Earshot's own segmentation decides what the model hears: a shorter silence than the server's would cut
    // sentences at their pauses and cost words (docs/decisions/frameworks-endpointing.md); a longer one is the client's.
    const server = this.host.recorderConfig?.postSpeechSilenceDuration ?? 0.6;
    return { postSpeechSilenceDuration: Math.min(COMMIT_SILENCE_SECONDS, Math.max(server, turn.silenceMs / 1000)), preRecordingBufferDuration: Math.max(turn.prefixMs / 1000, 0.2) };
  }

  // ---- server events --------------------------------------------------------------------------------------------

  private onEvent(event: SessionEvent, tag: CycleTag | undefined): void {
    const manual = tag?.manualItem;
    if (manual) {
      this.onManualEvent(event, manual);
      return;
    }
    const item = 'utterance' in event && event.utterance !== undefined ? this.items.get(event.utterance) : undefined;
    switch (event.type) {
      case 'speech_started': {
        const started = { ...newItem(), speaking: true };
        this.items.set(event.utterance, started);
        this.send({ type: 'input_audio_buffer.speech_started', item_id: started.id, audio_start_ms: Math.round(tag!.offsetMs + event.start * 1000) });
        return;
      }
      case 'speech_stopped':
        if (!item) return;
        item.speaking = false;
        this.uncommittedMs = 0;
        this.send({ type: 'input_audio_buffer.speech_stopped', item_id: item.id, audio_end_ms: Math.round(tag!.offsetMs + event.end * 1000) });
        this.committed(item);
        return;
      case 'stabilized':
        if (item) this.delta(item, event.text);
        return;
      case 'final':
      case 'discarded':
        if (!item) return;
        this.items.delete(event.utterance);
        // A discarded utterance was announced (committed): it completes with no words rather than stay open.
        if (event.type === 'final') item.texts.push(event.text);
        this.complete(item, event.type === 'final' ? event.end - event.start : 0);
        return;
      case 'error':
        if (item) {
          this.items.delete(event.utterance!);
          item.failure = { code: event.code, message: event.message };
          this.complete(item);
          return;
        }
        this.sendError(event.code, event.message);
        return;
      default:
        return; // state, vad and partial events have no counterpart: deltas follow the stabilized text
    }
  }

  /** A commit-driven cycle: its events fill its one item, which completes when the commit's stop is done. */
  private onManualEvent(event: SessionEvent, item: Item): void {
    switch (event.type) {
      case 'stabilized':
        this.delta(item, joinText(item.texts.join(' '), event.text));
        return;
      case 'final':
        if (event.text) item.texts.push(event.text);
        return;
      case 'error':
        item.failure ??= { code: event.code, message: event.message };
        // Only a failure of the whole cycle (no models, say) is said now; an utterance's is the item's `failed`.
        if (event.utterance === undefined) this.sendError(event.code, event.message);
        return;
      default:
        return;
    }
  }

  private committed(item: Item): void {
    this.send({ type: 'input_audio_buffer.committed', item_id: item.id, previous_item_id: this.lastItemId });
    this.lastItemId = item.id;
  }

  /** Text so far → the delta that extends what the item's deltas carried (none when it is not an extension). */
  private delta(item: Item, text: string): void {
    if (!text.startsWith(item.sent) || text.length === item.sent.length) return;
    const delta = text.slice(item.sent.length);
    item.sent = text;
    this.send({ type: 'conversation.item.input_audio_transcription.delta', item_id: item.id, content_index: 0, delta });
  }

  /** The one answer an item gets: `failed` with the reason, or the rest of its deltas then `completed`. */
  private complete(item: Item, seconds = 0): void {
    if (item.failure) {
      const { code, message } = item.failure;
      this.send({ type: 'conversation.item.input_audio_transcription.failed', item_id: item.id, content_index: 0, error: { type: errorType(code), code, message, param: null } });
      return;
    }
    const transcript = item.texts.join(' ');
    this.delta(item, transcript);
    this.send({ type: 'conversation.item.input_audio_transcription.completed', item_id: item.id, content_index: 0, transcript, usage: { type: 'duration', seconds: Math.round(seconds * 1000) / 1000 } });
  }

  private sendError(code: ErrorCode, message: string): void {
    this.send({ type: 'error', error: { type: errorType(code), code, message, param: null, event_id: null } });
  }

  /** A client error in OpenAI's shape (counted in metrics as BAD_MESSAGE). */
  private fail(code: string, message: string, eventId?: string, param?: string): void {
    this.host.metrics.errors.inc({ code: 'BAD_MESSAGE' });
    this.send({ type: 'error', error: { type: 'invalid_request_error', code, message, param: param ?? null, event_id: eventId ?? null } });
  }

  private describe(): Record<string, unknown> {
    return describeSettings(this.settings, this.beta);
  }

  private send(event: Record<string, unknown>): void {
    if (this.ws.readyState === 1) this.ws.send(JSON.stringify({ event_id: `event_${randomUUID()}`, ...event }));
  }
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

function newItem(): Item {
  return { id: `item_${randomUUID().replace(/-/g, '').slice(0, 24)}`, sent: '', texts: [] };
}

/** Two pieces of transcript as one text. */
function joinText(a: string, b: string): string {
  return a && b ? `${a} ${b}` : a || b;
}
