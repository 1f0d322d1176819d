/**
 * The dictation session: ties the microphone, the Earshot client and the preview together and turns server events
 * into view events. DOM-free (the audio source and the client are injected), so node tests can drive it.
 *
 * - start: open the mic, then start the client's session (with `sample_rate`, the rate the mic really produces),
 *   then frames.
 * - stop: flush the last partial frame, send it, stop the session; the final for what was being said still arrives
 *   and is shown (the session is kept as "closing" until its final, its discard, its idle state, or a timeout).
 * - connection lost with the mic on: the client keeps the frames and resumes the session (stt_start again, the
 *   audio since the last final resent) when it is back.
 * - finals become user messages, and `prompt` messages when autoSendOnFinal is on; typed prompts too (queued
 *   while disconnected).
 */
import type { UiConfig } from './config.ts';
import type { ConnectionInfo, ConnectionState, EarshotClient } from '../../src/client/earshot-client.ts';
import { newSessionId, type PromptMessage, type ServerMessage, type SttState } from '../../src/protocol/seed-messages.ts';
import { PreviewModel, type PreviewParts } from './ui/preview-text.ts';

export interface AudioFrame {
  pcm: ArrayBuffer;
  rms: number;
  peak: number;
}

/** What the controller needs from the microphone (MicCapture in the browser). */
export interface AudioSource {
  readonly active: boolean;
  /** Resolves with the sample rate of the frames; rejects with an error carrying `code` (e.g. MIC_ACCESS_DENIED). */
  start(): Promise<number>;
  /** Delivers the last partial frame, then releases the device. */
  stop(): Promise<void>;
  on(events: { frame?: (frame: AudioFrame) => void; ended?: () => void }): void;
}

export interface FinalInfo {
  /** The final belongs to a session the user already stopped (it converts the pending bubble). */
  afterStop: boolean;
  utterance?: number;
  latencyMs?: number;
}

export interface SttControllerEvents {
  micChange(on: boolean): void;
  busyChange(busy: boolean): void;
  stateChange(state: SttState): void;
  connectionChange(state: ConnectionState, info: ConnectionInfo): void;
  level(rms: number, peak: number): void;
  /** Show the live preview bubble with its placeholder. */
  previewOpen(): void;
  previewText(parts: PreviewParts): void;
  /** Back to the placeholder (utterance discarded, new utterance, connection lost). */
  previewReset(placeholder: string): void;
  /** Mic stopped: remove the live bubble, or keep it as pending when it shows an utterance still to be finished. */
  previewClose(keepPending: boolean): void;
  /** A stopped session is done: remove its pending bubble if no final converted it. */
  pendingDone(): void;
  final(text: string, info: FinalInfo): void;
  error(code: string, detail: string): void;
  errorClear(): void;
  assistantDelta(text: string): void;
  assistantDone(text: string | undefined): void;
}

/** How long a stopped session may still deliver its final. */
const CLOSING_TIMEOUT_MS = 20_000;
const MAX_QUEUED_PROMPTS = 50;

export class SttController {
  private micOn = false;
  private busy = false;
  private sessionId: string | null = null;
  private lastSessionId: string | null = null;
  private readonly pageSessionId = newSessionId();
  private sampleRate = 0;
  private state: SttState = 'idle';
  private readonly preview: PreviewModel;
  private pendingPreview = false;
  private readonly closing = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly queuedPrompts: PromptMessage[] = [];
  private readonly events: Partial<SttControllerEvents>;

  constructor(
    private readonly client: EarshotClient,
    private readonly audio: AudioSource,
    private readonly ui: UiConfig,
    events: Partial<SttControllerEvents>,
  ) {
    this.events = events;
    this.preview = new PreviewModel(ui.showStabilizedOnly);
    audio.on({
      frame: (f) => this.onFrame(f),
      ended: () => {
        if (!this.micOn) return;
        this.events.error?.('MIC_ENDED', 'The microphone track ended');
        void this.stop();
      },
    });
    client.on('message', (m) => this.onMessage(m));
    client.on('open', () => this.onOpen());
    client.on('connection', (info) => {
      if (info.state !== 'connected') this.onDisconnected();
      this.events.connectionChange?.(info.state, info);
    });
  }

  get micActive(): boolean {
    return this.micOn;
  }

  get isBusy(): boolean {
    return this.busy;
  }

  get sttState(): SttState {
    return this.state;
  }

  get currentSessionId(): string | null {
    return this.sessionId;
  }

  /** The rate declared in the last stt_start (0 before the first start). */
  get declaredSampleRate(): number {
    return this.sampleRate;
  }

  toggle(): Promise<void> {
    return this.micOn ? this.stop() : this.start();
  }

  async start(): Promise<void> {
    if (this.busy || this.micOn) return;
    this.setBusy(true);
    this.events.errorClear?.();
    const id = newSessionId();
    try {
      this.sampleRate = await this.audio.start();
    } catch (e) {
      const code = (e as { code?: unknown } | null)?.code;
      this.events.error?.(typeof code === 'string' ? code : 'MIC_ERROR', e instanceof Error ? e.message : String(e));
      this.setBusy(false);
      return;
    }
    this.sessionId = id;
    this.micOn = true;
    this.preview.reset();
    this.events.micChange?.(true);
    if (this.ui.showRealtimePreview) this.events.previewOpen?.();
    // Refusals (OVERLOADED, ...) also arrive as stt_error messages, shown by onMessage.
    this.client.start(id, { sampleRate: this.sampleRate, timeoutMs: CLOSING_TIMEOUT_MS }).catch(() => {});
    this.setBusy(false);
  }

  async stop(): Promise<void> {
    if (this.busy || !this.micOn) return;
    this.setBusy(true);
    const id = this.sessionId!;
    await this.audio.stop(); // the flushed last frame still goes out through onFrame
    this.client.stop(CLOSING_TIMEOUT_MS).catch(() => {});
    this.micOn = false;
    this.sessionId = null;
    this.lastSessionId = id;
    this.closing.set(
      id,
      setTimeout(() => this.endClosing(id), CLOSING_TIMEOUT_MS),
    );
    this.setState('idle');
    this.events.level?.(0, 0);
    this.events.micChange?.(false);
    const keep = this.ui.showRealtimePreview && this.preview.hasText;
    this.pendingPreview = keep;
    this.events.previewClose?.(keep);
    this.preview.reset();
    this.setBusy(false);
  }

  /** Sends typed (or auto-sent) text as a `prompt`; queued while disconnected. Returns false when queued. */
  sendPrompt(text: string): boolean {
    const message: PromptMessage = {
      type: 'prompt',
      text,
      session_id: this.sessionId ?? this.lastSessionId ?? this.pageSessionId,
    };
    if (this.client.sendJson(message)) return true;
    if (this.queuedPrompts.length >= MAX_QUEUED_PROMPTS) this.queuedPrompts.shift();
    this.queuedPrompts.push(message);
    return false;
  }

  private onFrame(frame: AudioFrame): void {
    if (!this.micOn) return;
    this.events.level?.(frame.rms, frame.peak);
    this.client.sendAudio(frame.pcm);
  }

  private onOpen(): void {
    if (this.micOn) {
      this.preview.reset();
      if (this.ui.showRealtimePreview) this.events.previewReset?.('Listening…');
    }
    while (this.queuedPrompts.length && this.client.sendJson(this.queuedPrompts[0]!)) this.queuedPrompts.shift();
  }

  private onDisconnected(): void {
    // A session in the middle of stopping finishes after the reconnect (the client resends its audio).
    if (this.micOn) {
      this.preview.reset();
      if (this.ui.showRealtimePreview) this.events.previewReset?.('Reconnecting…');
      this.setState('listening');
    }
  }

  private onMessage(m: ServerMessage): void {
    const sid = m.type === 'pong' ? undefined : (m.session_id ?? undefined);
    const current = this.micOn && (sid === undefined || sid === this.sessionId);
    const closing = sid !== undefined && this.closing.has(sid);
    switch (m.type) {
      case 'stt_listening':
        if (current) this.setState('listening');
        break;
      case 'stt_state':
        if (current) this.setState(m.state);
        else if (closing && m.state === 'idle') this.endClosing(sid);
        break;
      case 'stt_recording_start':
        if (current) {
          this.preview.reset();
          if (this.ui.showRealtimePreview) this.events.previewReset?.('Listening…');
        }
        break;
      case 'stt_update':
      case 'stt_stabilized':
        if (current && this.ui.showRealtimePreview) {
          const parts = m.type === 'stt_update' ? this.preview.update(m.text) : this.preview.stabilize(m.text);
          this.events.previewText?.(parts);
        }
        break;
      case 'stt_final':
        // An untagged final after stop is taken to belong to the session being closed.
        if (current || closing || (sid === undefined && this.closing.size > 0)) this.onFinal(m.text, !current, m);
        break;
      case 'stt_discarded':
        if (current) {
          this.preview.reset();
          if (this.ui.showRealtimePreview) this.events.previewReset?.('Listening…');
        } else if (closing) {
          this.endClosing(sid);
        }
        break;
      case 'stt_error':
        this.events.error?.(m.code, m.error);
        break;
      case 'assistant_delta':
        this.events.assistantDelta?.(m.text);
        break;
      case 'assistant_done':
        this.events.assistantDone?.(m.text);
        break;
      default:
        break;
    }
  }

  private onFinal(raw: string, afterStop: boolean, m: { utterance?: number; latency_ms?: number; session_id: string | null }): void {
    const text = raw.trim();
    if (afterStop) {
      if (text) this.events.final?.(text, { afterStop: true, utterance: m.utterance, latencyMs: m.latency_ms });
      if (m.session_id !== null && m.session_id !== undefined) this.endClosing(m.session_id);
      else for (const id of [...this.closing.keys()]) this.endClosing(id);
    } else {
      this.preview.reset();
      if (text) this.events.final?.(text, { afterStop: false, utterance: m.utterance, latencyMs: m.latency_ms });
      if (this.ui.showRealtimePreview) {
        if (text) this.events.previewOpen?.();
        else this.events.previewReset?.('Listening…');
      }
    }
    if (text && this.ui.autoSendOnFinal) this.sendPrompt(text);
  }

  private endClosing(id: string): void {
    const timer = this.closing.get(id);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.closing.delete(id);
    this.finishPending();
  }

  private finishPending(): void {
    if (!this.pendingPreview) return;
    this.pendingPreview = false;
    this.events.pendingDone?.();
  }

  private setState(state: SttState): void {
    if (state === this.state) return;
    this.state = state;
    this.events.stateChange?.(state);
  }

  private setBusy(busy: boolean): void {
    this.busy = busy;
    this.events.busyChange?.(busy);
  }
}
