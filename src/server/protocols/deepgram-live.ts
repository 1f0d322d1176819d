import { randomUUID } from 'node:crypto';
import { KeytermError, parseKeyterms, type Keyterm } from '../../asr/keyterms.ts';
import { splitWords } from '../../asr/words.ts';
import { decodeG711 } from '../../audio/g711.ts';
import type { RecorderConfig } from '../../recorder/recorder-config.ts';
import { MAX_AUDIO_FRAME_BYTES } from '../../protocol/seed-messages.ts';
import { TranscriptionSession, type SessionEvent, type SessionHost } from '../transcription-session.ts';
import { socketTransport, toBuffer, WebSocketProtocol, type WebSocketLike } from './websocket-adapter.ts';

/**
 * Deepgram's live streaming API (/v1/listen), as `@deepgram/sdk`'s listen.v1 socket and LiveKit's plugin speak it:
 * raw audio in binary frames, the options in the URL (`encoding` linear16|mulaw|alaw, `sample_rate`,
 * `interim_results`, `vad_events`, `endpointing`, `utterance_end_ms`, `keyterm` and `keywords`; `no_delay`,
 * `smart_format` … are accepted), JSON control messages (`KeepAlive`, `Finalize`, `CloseStream`, `Configure` with
 * `keyterms`); out come `Results` (interim ones from our partials; `is_final` from our finals), `SpeechStarted`,
 * `UtteranceEnd` and, on close, `Metadata`.
 * Endpointing as Deepgram maps it: Earshot's own segmentation decides what the model hears (a client's shorter
 * endpointing would cut sentences at their pauses and cost words: docs/decisions/frameworks-endpointing.md), every
 * final is `is_final`, and `speech_final` unless endpointing is `false`; a longer endpointing lengthens utterances.
 * `UtteranceEnd` comes once `utterance_end_ms` of audio has followed the last final's words with no new speech.
 * Bad frames and failed utterances get an `Error` message (`variant` = our code) and the stream goes on; a bad query
 * refuses the handshake with 400 before any audio.
 */

export interface DeepgramOptions {
  encoding: 'linear16' | 'mulaw' | 'alaw';
  sampleRate: number;
  interimResults: boolean;
  vadEvents: boolean;
  /** ms of silence the client asks to end an utterance; false: no endpointing (finals are never speech_final). */
  endpointingMs: number | false;
  utteranceEndMs?: number;
  model: string;
  /** `keyterm` and `keywords` (word:boost), both repeatable (docs/keyterms.md). */
  keyterms: Keyterm[];
}

/** The query of a /v1/listen URL, or why it is refused. */
export function parseDeepgramQuery(query: URLSearchParams): DeepgramOptions | { error: string } {
  const encoding = query.get('encoding') ?? 'linear16';
  if (encoding !== 'linear16' && encoding !== 'mulaw' && encoding !== 'alaw') return { error: `encoding must be linear16, mulaw or alaw (got ${encoding.slice(0, 40)})` };
  const rateText = query.get('sample_rate') ?? (encoding === 'linear16' ? '16000' : '8000');
  const sampleRate = Number(rateText);
  if (!/^\d+$/.test(rateText) || sampleRate < 8000 || sampleRate > 192000) return { error: `sample_rate must be an integer from 8000 to 192000 (got ${rateText.slice(0, 40)})` };
  const channels = query.get('channels') ?? '1';
  if (channels !== '1') return { error: 'only mono audio (channels=1) is supported' };
  const bool = (name: string) => /^true$/i.test(query.get(name) ?? '');
  const ms = (name: string): number | undefined => {
    const v = query.get(name);
    if (v === null || /^false$/i.test(v)) return undefined;
    const n = Number(v);
    return Number.isFinite(n) && n >= 0 ? n : undefined;
  };
  const endpointing = /^false$/i.test(query.get('endpointing') ?? '') ? false : (ms('endpointing') ?? 10);
  let keyterms: Keyterm[];
  try {
    keyterms = parseKeyterms([...query.getAll('keyterm'), ...query.getAll('keywords')]);
  } catch (e) {
    if (e instanceof KeytermError) return { error: e.message };
    throw e;
  }
  return {
    encoding,
    sampleRate,
    interimResults: bool('interim_results'),
    vadEvents: bool('vad_events'),
    endpointingMs: endpointing === false ? false : Math.min(10000, endpointing),
    utteranceEndMs: ms('utterance_end_ms'),
    model: (query.get('model') ?? 'earshot').slice(0, 64),
    keyterms,
  };
}

/** One listening cycle (Finalize starts the next): where its audio began in the stream, and whether it was finalized. */
interface CycleTag {
  offset: number;
  finalized: boolean;
}

export class DeepgramLiveSession extends WebSocketProtocol<CycleTag> {
  readonly session: TranscriptionSession<CycleTag>;
  private readonly requestId = randomUUID();
  private readonly rate: number;
  /** Seconds of audio received, for Metadata.duration and UtteranceEnd. */
  private audioSeconds = 0;
  /** Stream time of the last final's last word while an UtteranceEnd is owed (utterance_end_ms). */
  private utteranceEndDue?: number;
  private closing = false;
  private listening = false;
  /** In effect: the query's, then each Configure's. */
  private keyterms: Keyterm[];

  constructor(
    ws: WebSocketLike,
    private readonly host: SessionHost,
    private readonly options: DeepgramOptions,
  ) {
    super(ws);
    this.rate = options.encoding === 'linear16' ? options.sampleRate : 8000;
    this.keyterms = options.keyterms;
    this.session = new TranscriptionSession<CycleTag>(host, socketTransport(ws), (event, tag) => this.onEvent(event, tag), 'deepgram');
    if (!this.listen()) {
      this.close(1013, 'the server is at its maximum number of sessions or shutting down; try again later');
    }
  }

  handleMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    const buf = toBuffer(data);
    if (isBinary) {
      if (this.closing) return;
      if (buf.length > MAX_AUDIO_FRAME_BYTES) {
        this.reject('AUDIO_FRAME_TOO_LARGE', `audio frame of ${buf.length} bytes is over the limit of ${MAX_AUDIO_FRAME_BYTES} bytes; send smaller frames`);
        return;
      }
      const pcm = this.options.encoding === 'linear16' ? buf : decodeG711(buf, this.options.encoding);
      this.audioSeconds += pcm.length / 2 / this.rate;
      this.session.appendAudio(pcm);
      this.checkUtteranceEnd();
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(buf.toString('utf8'));
    } catch {
      this.reject('BAD_MESSAGE', 'text messages must be JSON: {"type":"KeepAlive"}, {"type":"Finalize"} or {"type":"CloseStream"}');
      return;
    }
    const type = typeof msg === 'object' && msg !== null ? (msg as Record<string, unknown>).type : undefined;
    switch (type) {
      case 'KeepAlive':
        return;
      case 'Finalize':
        this.finalize();
        return;
      case 'CloseStream':
        void this.finish();
        return;
      case 'Configure':
        this.configure((msg as Record<string, unknown>).keyterms);
        return;
      default:
        this.reject('UNKNOWN_TYPE', `unknown message type ${JSON.stringify(type ?? null).slice(0, 60)}; expected KeepAlive, Finalize, CloseStream or Configure`);
    }
  }

  /** Graceful end: the final in progress, Metadata, then close. */
  override async shutdown(): Promise<void> {
    await this.finish(1001);
  }


  /**
   * Finalize: what was said so far is transcribed now (from_finalize), and listening goes on at once: audio sent
   * meanwhile waits for the next cycle, which starts after the finalized one's last final.
   */
  private finalize(): void {
    if (this.closing) return;
    const tag = this.session.tag;
    if (tag) tag.finalized = true;
    void this.session.stop();
    this.listen();
  }

  private listen(): boolean {
    return this.session.start({ sampleRate: this.rate, tag: { offset: this.audioSeconds, finalized: false }, recorder: this.recorderSettings(), keyterms: this.keyterms });
  }

  /** UtteranceEnd once utterance_end_ms of audio followed the last final's words with no speech since. */
  private checkUtteranceEnd(): void {
    const due = this.utteranceEndDue;
    if (due === undefined || this.audioSeconds - due < this.options.utteranceEndMs! / 1000) return;
    this.utteranceEndDue = undefined;
    this.send({ type: 'UtteranceEnd', channel: [0, 1], last_word_end: round3(due) });
  }

  private async finish(code = 1000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await this.session.stop();
    // The stream is over: no words follow the last final, whatever audio was still to come.
    if (this.utteranceEndDue !== undefined) this.send({ type: 'UtteranceEnd', channel: [0, 1], last_word_end: round3(this.utteranceEndDue) });
    this.send({ type: 'Metadata', transaction_key: 'deprecated', request_id: this.requestId, sha256: '', created: new Date().toISOString(), duration: round3(this.audioSeconds), channels: 1 });
    this.close(code, code === 1001 ? 'server shutting down' : 'stream closed');
  }

  /** Configure: `keyterms` replaces the list ([] clears it; absent or null keeps it); answered ConfigureSuccess or ConfigureFailure. */
  private configure(specs: unknown): void {
    const answer = (ok: boolean, description?: string) =>
      this.send(ok ? { type: 'ConfigureSuccess', request_id: this.requestId, keyterms: this.keyterms.map((k) => k.text) } : { type: 'ConfigureFailure', request_id: this.requestId, description });
    if (specs === undefined || specs === null) return answer(true);
    let keyterms: Keyterm[];
    try {
      keyterms = parseKeyterms(specs);
    } catch (e) {
      if (!(e instanceof KeytermError)) throw e;
      this.session.error('BAD_KEYTERMS', e.message);
      return answer(false, e.message);
    }
    void this.session.updateKeyterms(keyterms).then((ok) => {
      if (ok) this.keyterms = keyterms;
      answer(ok, ok ? undefined : 'the keyterms were refused: see the Error message before this one');
    });
  }

  /** Only an endpointing longer than the server's silence changes the segmentation (see the note at the top). */
  private recorderSettings(): Partial<RecorderConfig> | undefined {
    const endpointing = this.options.endpointingMs;
    const server = this.host.recorderConfig?.postSpeechSilenceDuration ?? 0.6;
    return endpointing !== false && endpointing / 1000 > server ? { postSpeechSilenceDuration: endpointing / 1000 } : undefined;
  }

  private onEvent(event: SessionEvent, tag: CycleTag | undefined): void {
    const offset = tag?.offset ?? 0;
    switch (event.type) {
      case 'listening':
        this.listening = true;
        return;
      case 'speech_started':
        this.utteranceEndDue = undefined;
        if (this.options.vadEvents) this.send({ type: 'SpeechStarted', channel: [0, 1], timestamp: round3(offset + event.start) });
        return;
      case 'partial':
        if (this.options.interimResults) this.results(event.text, undefined, { isFinal: false, speechFinal: false, fromFinalize: false });
        return;
      case 'final':
        this.results(event.text, { start: offset + event.start, end: offset + event.end }, { isFinal: true, speechFinal: this.options.endpointingMs !== false, fromFinalize: tag?.finalized ?? false });
        if (this.options.utteranceEndMs !== undefined) {
          this.utteranceEndDue = offset + event.end;
          this.checkUtteranceEnd();
        }
        return;
      case 'error':
        // The connection goes on (what was said before and after still comes); the failure is said in Deepgram's
        // error shape, which its SDK hands to the message listeners.
        this.send({ type: 'Error', variant: event.code, description: event.message, message: event.message });
        // Keyterms that do not compile refuse the stream, as Deepgram refuses them at the handshake.
        if (event.code === 'BAD_KEYTERMS' && !this.listening) this.close(1008, 'bad keyterms');
        return;
      default:
        return;
    }
  }

  private results(text: string, span: { start: number; end: number } | undefined, flags: { isFinal: boolean; speechFinal: boolean; fromFinalize: boolean }): void {
    const start = span?.start ?? 0;
    const duration = span ? span.end - span.start : 0;
    const words = splitWords(text);
    const step = words.length > 0 ? duration / words.length : 0;
    this.send({
      type: 'Results',
      channel_index: [0, 1],
      duration: round3(duration),
      start: round3(start),
      is_final: flags.isFinal,
      speech_final: flags.speechFinal,
      from_finalize: flags.fromFinalize,
      channel: {
        alternatives: [
          {
            transcript: text,
            confidence: 1,
            // Moonshine gives no timings: words share the utterance evenly (REST verbose_json lays them over voiced audio).
            words: words.map((w, i) => ({ word: w.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''), punctuated_word: w, start: round3(start + i * step), end: round3(start + (i + 1) * step), confidence: 1 })),
          },
        ],
      },
      metadata: { request_id: this.requestId, model_info: { name: this.options.model, version: '1', arch: 'moonshine' }, model_uuid: this.requestId },
    });
  }

  /**
   * A bad frame: said in Deepgram's error message shape, and the stream goes on, so the speech before and after it is
   * still transcribed (Deepgram itself may close; losing what was said for one bad frame is not worth it).
   */
  private reject(code: 'AUDIO_FRAME_TOO_LARGE' | 'BAD_MESSAGE' | 'UNKNOWN_TYPE', message: string): void {
    this.session.error(code, message);
  }

  private close(code: number, reason: string): void {
    this.closing = true;
    if (this.ws.readyState === 1) this.ws.close(code, reason);
  }

  private send(msg: Record<string, unknown>): void {
    if (this.ws.readyState === 1) this.ws.send(JSON.stringify(msg));
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
