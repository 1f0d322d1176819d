/**
 * A stand-in for the Web Speech API's SpeechRecognition, backed by an Earshot server: code written against the
 * browser's API (directly, or through libraries such as react-speech-recognition) keeps working, in every browser
 * with an AudioWorklet (Firefox too), and the audio goes only to your own server.
 *
 *   import { install } from '/sdk/earshot.js';
 *   install();                                 // window.SpeechRecognition and webkitSpeechRecognition are now Earshot
 *   const r = new SpeechRecognition();
 *   r.continuous = true; r.interimResults = true;
 *   r.onresult = (e) => console.log(e.results[e.resultIndex][0].transcript, e.results[e.resultIndex].isFinal);
 *   r.start();
 *
 * Mapping: stt_update → an interim result (when interimResults), stt_final → a final result; without `continuous`
 * the first final ends the session. stt_vad_start → soundstart, the first stt_recording_start → speechstart. Errors
 * use the standard names: not-allowed (microphone refused), audio-capture (no usable microphone), network (no
 * connection to the server within 10 s), no-speech (nothing said for 8 s), aborted (abort()), language-not-supported
 * (a `lang` other than English), service-not-allowed (the server refused the session: full, shutting down, no model).
 * Confidence is not computed: 1 for finals, 0 for interim results.
 */
import type { EarshotClient } from '../../../src/client/earshot-client.ts';
import { newSessionId, type ServerMessage } from '../../../src/protocol/seed-messages.ts';
import { MicCapture, MicError } from '../audio/mic-capture.ts';
import { STT_CONFIG } from '../config.ts';
import { openClient, type ConnectionOptions } from './connection.ts';

export type SpeechRecognitionErrorCode =
  | 'aborted'
  | 'audio-capture'
  | 'bad-grammar'
  | 'language-not-supported'
  | 'network'
  | 'no-speech'
  | 'not-allowed'
  | 'service-not-allowed';

export interface SpeechRecognitionAlternative {
  readonly transcript: string;
  readonly confidence: number;
}

/** Array-like, as in the browser: result[0] is the best (here: only) alternative. */
export interface SpeechRecognitionResult extends ReadonlyArray<SpeechRecognitionAlternative> {
  readonly isFinal: boolean;
  item(index: number): SpeechRecognitionAlternative | null;
}

export interface SpeechRecognitionResultList extends ReadonlyArray<SpeechRecognitionResult> {
  item(index: number): SpeechRecognitionResult | null;
}

export class SpeechRecognitionEvent extends Event {
  constructor(
    type: string,
    readonly resultIndex: number,
    readonly results: SpeechRecognitionResultList,
  ) {
    super(type);
  }
}

export class SpeechRecognitionErrorEvent extends Event {
  constructor(
    readonly error: SpeechRecognitionErrorCode,
    readonly message: string,
  ) {
    super('error');
  }
}

type Handler<E extends Event = Event> = ((this: SpeechRecognition, ev: E) => unknown) | null;

const CONNECT_TIMEOUT_MS = 10_000;
const NO_SPEECH_MS = 8_000;
const STOP_TIMEOUT_MS = 20_000;
/** Server errors that refuse the session (anything else concerns one utterance, and the session goes on). */
const REFUSALS: ReadonlySet<string> = new Set(['OVERLOADED', 'MODEL_LOAD_ERROR', 'SHUTTING_DOWN', 'BAD_MESSAGE']);

function result(transcript: string, isFinal: boolean): SpeechRecognitionResult {
  const alternatives = [{ transcript, confidence: isFinal ? 1 : 0 }];
  return Object.assign(alternatives, { isFinal, item: (i: number) => alternatives[i] ?? null });
}

function resultList(results: SpeechRecognitionResult[]): SpeechRecognitionResultList {
  return Object.assign(results, { item: (i: number) => results[i] ?? null });
}

function micErrorCode(e: unknown): SpeechRecognitionErrorCode {
  return e instanceof MicError && e.code === 'MIC_ACCESS_DENIED' ? 'not-allowed' : 'audio-capture';
}

/** Where every SpeechRecognition connects unless its own `server`/`token` say otherwise. */
const defaults: ConnectionOptions = {};

export class SpeechRecognition extends EventTarget {
  continuous = false;
  interimResults = false;
  lang = '';
  maxAlternatives = 1;
  /** Accepted and ignored, as in Chrome. */
  grammars: unknown = null;
  /** Earshot: server URL and token for this instance (default: configure(), else the server of this module). */
  server?: string;
  token?: ConnectionOptions['token'];
  /** Earshot: words to bias recognition toward, names and jargon ("word:2" weighs one double); default: configure()'s. */
  keyterms?: string[];

  onstart: Handler = null;
  onend: Handler = null;
  onaudiostart: Handler = null;
  onaudioend: Handler = null;
  onsoundstart: Handler = null;
  onsoundend: Handler = null;
  onspeechstart: Handler = null;
  onspeechend: Handler = null;
  onresult: Handler<SpeechRecognitionEvent> = null;
  onnomatch: Handler<SpeechRecognitionEvent> = null;
  onerror: Handler<SpeechRecognitionErrorEvent> = null;

  private run: Run | null = null;

  /** Sets the server and token every instance uses by default. */
  static configure(options: ConnectionOptions): void {
    Object.assign(defaults, options);
  }

  start(): void {
    if (this.run) throw new DOMException('recognition has already started', 'InvalidStateError');
    const run = new Run(this);
    this.run = run;
    void run.begin();
  }

  /** Stops listening; what was said so far still becomes a final result, then `end`. */
  stop(): void {
    void this.run?.finish(false);
  }

  /** Stops at once: no more results, an `aborted` error, then `end`. */
  abort(): void {
    void this.run?.finish(true);
  }

  /** @internal the run is over (after `end`). */
  ended(run: Run): void {
    if (this.run === run) this.run = null;
  }

  /** @internal fires `ev` on the on* handler and the listeners. */
  fire(ev: Event): void {
    const handler = (this as unknown as Record<string, Handler<Event> | undefined>)[`on${ev.type}`];
    try {
      handler?.call(this, ev);
    } catch (e) {
      console.error(e);
    }
    this.dispatchEvent(ev);
  }

  /** @internal */
  connectionOptions(): ConnectionOptions {
    return { server: this.server ?? defaults.server, token: this.token ?? defaults.token, keyterms: this.keyterms ?? defaults.keyterms };
  }
}

/** One start() … end. */
class Run {
  private client: EarshotClient | null = null;
  private mic: MicCapture | null = null;
  private readonly finals: string[] = [];
  private ending = false;
  private done = false;
  private speech = false;
  private sound = false;
  private noSpeechTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly r: SpeechRecognition) {}

  async begin(): Promise<void> {
    const lang = this.r.lang.trim().toLowerCase();
    if (lang && !lang.startsWith('en')) return this.fail('language-not-supported', `Earshot transcribes English; lang is ${this.r.lang}`);
    try {
      const client = await openClient(this.r.connectionOptions());
      this.client = client;
      const mic = new MicCapture({ sampleRate: STT_CONFIG.sampleRate, channels: 1, bufferSize: STT_CONFIG.bufferSize, audioConstraints: STT_CONFIG.audioConstraints });
      this.mic = mic;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const connected = Promise.race([
        client.connect(),
        new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), CONNECT_TIMEOUT_MS))),
      ]).finally(() => clearTimeout(timer));
      connected.catch(() => {});
      let rate: number;
      try {
        rate = await mic.start();
      } catch (e) {
        return this.fail(micErrorCode(e), e instanceof Error ? e.message : String(e));
      }
      if (this.ending) return;
      try {
        await connected;
      } catch {
        return this.fail('network', 'no connection to the Earshot server');
      }
      if (this.ending) return;
      const sessionId = newSessionId();
      mic.on({
        frame: (f) => client.sendAudio(f.pcm),
        ended: () => void this.fail('audio-capture', 'the microphone track ended'),
      });
      client.on('message', (m) => this.onMessage(m, sessionId));
      client.start(sessionId, { sampleRate: rate }).catch(() => {});
      this.r.fire(new Event('start'));
      this.r.fire(new Event('audiostart'));
      this.noSpeechTimer = setTimeout(() => void this.fail('no-speech', 'no speech was heard'), NO_SPEECH_MS);
    } catch (e) {
      await this.fail('network', e instanceof Error ? e.message : String(e));
    }
  }

  /** stop() (abort false) or abort(): stop capturing; with stop, wait for the final of what was said. */
  async finish(abort: boolean): Promise<void> {
    if (this.ending) {
      if (abort) this.done = true; // an abort during a stop drops the results still to come
      return;
    }
    this.ending = true;
    this.clearNoSpeech();
    const { mic, client } = this;
    if (abort) {
      this.done = true;
      await mic?.stop();
      this.r.fire(new SpeechRecognitionErrorEvent('aborted', 'recognition aborted'));
    } else {
      await mic?.stop(); // the flushed last frame still goes out
      if (client?.connected || client?.state === 'reconnecting') await client.stop(STOP_TIMEOUT_MS).catch(() => {});
    }
    this.end(mic !== null);
  }

  private async fail(error: SpeechRecognitionErrorCode, message: string): Promise<void> {
    if (this.ending) return;
    this.ending = true;
    this.done = true;
    this.clearNoSpeech();
    const started = this.mic?.active ?? false;
    await this.mic?.stop();
    this.r.fire(new SpeechRecognitionErrorEvent(error, message));
    this.end(started);
  }

  private end(audioStarted: boolean): void {
    this.done = true;
    if (this.speech) this.r.fire(new Event('speechend'));
    if (this.sound) this.r.fire(new Event('soundend'));
    if (audioStarted) this.r.fire(new Event('audioend'));
    void this.client?.close();
    this.r.ended(this);
    this.r.fire(new Event('end'));
  }

  private clearNoSpeech(): void {
    if (this.noSpeechTimer) clearTimeout(this.noSpeechTimer);
    this.noSpeechTimer = null;
  }

  private onMessage(m: ServerMessage, sessionId: string): void {
    if (this.done || m.type === 'pong' || (m.session_id !== sessionId && m.session_id !== null)) return;
    switch (m.type) {
      case 'stt_vad_start':
        if (!this.sound) {
          this.sound = true;
          this.r.fire(new Event('soundstart'));
        }
        break;
      case 'stt_recording_start':
        this.clearNoSpeech();
        if (!this.speech) {
          this.speech = true;
          this.r.fire(new Event('speechstart'));
        }
        break;
      case 'stt_update':
        if (this.r.interimResults && m.text.trim()) this.emitResults(this.finals.length, this.spaced(m.text.trim(), this.finals.length));
        break;
      case 'stt_final': {
        const text = m.text.trim();
        if (!text) break;
        this.finals.push(this.spaced(text, this.finals.length));
        this.emitResults(this.finals.length - 1, null);
        if (!this.r.continuous) void this.finish(false);
        break;
      }
      case 'stt_error':
        if (REFUSALS.has(m.code)) void this.fail('service-not-allowed', `${m.code}: ${m.error}`);
        break;
      default:
        break;
    }
  }

  /** Like Chrome, results after the first start with a space, so that joining transcripts gives readable text. */
  private spaced(text: string, index: number): string {
    return index === 0 ? text : ` ${text}`;
  }

  private emitResults(resultIndex: number, interim: string | null): void {
    const list = this.finals.map((t) => result(t, true));
    if (interim !== null) list.push(result(interim, false));
    this.r.fire(new SpeechRecognitionEvent('result', resultIndex, resultList(list)));
  }
}

/** Puts the stand-in where apps look for the browser's (window.SpeechRecognition and webkitSpeechRecognition). */
export function install(target: object = globalThis): void {
  Object.assign(target, { SpeechRecognition, webkitSpeechRecognition: SpeechRecognition });
}
