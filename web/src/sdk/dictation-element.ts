/**
 * <earshot-dictation>: a microphone button, a level meter and the live preview for any page, no framework. Finals
 * go into the field named by `target` (a CSS selector of an input or textarea; an `input` event tells frameworks)
 * and are announced as events:
 *
 *   <script type="module" src="https://earshot.example/sdk/earshot.js"></script>
 *   <earshot-dictation target="#message"></earshot-dictation>
 *
 * Attributes: `target`, `server` (default: the server of the module), `keyterms` (words to bias recognition toward,
 * comma-separated: `keyterms="Dashwood, clubs:2"`; read when listening starts). Property `token`: a string or a function that
 * fetches a short-lived one. Events (bubbling, composed): `earshot-final` {text}, `earshot-partial` {stable,
 * unstable}, `earshot-state` {listening, state}, `earshot-error` {code, message}. Methods: start(), stop(), toggle().
 * Styling: custom properties --earshot-accent, --earshot-size, --earshot-radius, --earshot-background,
 * --earshot-color, --earshot-font, and the parts button, meter, level, preview, stable, unstable.
 */
import type { EarshotClient } from '../../../src/client/earshot-client.ts';
import { MicCapture } from '../audio/mic-capture.ts';
import { STT_CONFIG } from '../config.ts';
import { SttController } from '../stt-controller.ts';
import { describeError } from '../ui/error-text.ts';
import { LevelMeter } from '../ui/level-meter.ts';
import { openClient, type TokenSource } from './connection.ts';

const TEMPLATE = `
<style>
  :host { display: inline-flex; align-items: center; gap: .5em; font: var(--earshot-font, inherit); color: var(--earshot-color, inherit); }
  :host([hidden]) { display: none; }
  button { inline-size: var(--earshot-size, 2.5em); block-size: var(--earshot-size, 2.5em); border-radius: var(--earshot-radius, 50%);
    border: 2px solid var(--earshot-accent, #2563eb); background: var(--earshot-background, transparent); color: var(--earshot-accent, #2563eb);
    display: grid; place-items: center; cursor: pointer; padding: 0; }
  button[aria-pressed="true"] { background: var(--earshot-accent, #2563eb); color: var(--earshot-background, #fff); }
  button:disabled { opacity: .5; cursor: progress; }
  svg { inline-size: 55%; block-size: 55%; }
  .meter { inline-size: 3em; block-size: .35em; border-radius: .2em; background: color-mix(in srgb, currentColor 15%, transparent); overflow: hidden; visibility: hidden; }
  .meter.active { visibility: visible; }
  .level-bar { block-size: 100%; background: var(--earshot-accent, #2563eb); transform-origin: left; transform: scaleX(0); }
  .preview { min-inline-size: 0; }
  .unstable { opacity: .6; font-style: italic; }
</style>
<button part="button" type="button" aria-pressed="false" aria-label="Start dictation">
  <svg viewBox="0 0 24 24" aria-hidden="true"><rect x="9" y="3" width="6" height="11" rx="3" fill="currentColor"/><path d="M6 11a6 6 0 0 0 12 0M12 17v4" stroke="currentColor" stroke-width="2" fill="none"/></svg>
</button>
<div part="meter" class="meter" role="meter" aria-label="Input level" aria-valuemin="0" aria-valuemax="100"><div part="level" class="level-bar"></div></div>
<span part="preview" class="preview" aria-live="polite"><span part="stable" class="stable"></span> <span part="unstable" class="unstable"></span></span>
`;

export class EarshotDictationElement extends HTMLElement {
  /** A token, or a function that gets a fresh one (the host app's server signs it). */
  token?: TokenSource;
  private client: EarshotClient | null = null;
  private controller: SttController | null = null;
  private readonly button: HTMLButtonElement;
  private readonly meter: LevelMeter;
  private readonly stable: HTMLElement;
  private readonly unstable: HTMLElement;

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = TEMPLATE;
    this.button = root.querySelector('button')!;
    this.meter = new LevelMeter(root.querySelector<HTMLElement>('.meter')!);
    this.stable = root.querySelector<HTMLElement>('.stable')!;
    this.unstable = root.querySelector<HTMLElement>('.unstable')!;
    this.button.addEventListener('click', () => void this.toggle());
  }

  /** True while the microphone is on. */
  get listening(): boolean {
    return this.controller?.micActive ?? false;
  }

  disconnectedCallback(): void {
    void this.stop().then(() => {
      if (this.isConnected) return;
      void this.client?.close();
      this.client = this.controller = null;
    });
  }

  async toggle(): Promise<void> {
    return this.listening ? this.stop() : this.start();
  }

  async start(): Promise<void> {
    if (this.listening) return;
    this.button.disabled = true;
    try {
      const controller = this.controller ?? (await this.createController());
      await controller.start();
    } catch (e) {
      this.emit('earshot-error', { code: 'CONNECTION_FAILED', message: e instanceof Error ? e.message : String(e) });
    } finally {
      this.button.disabled = false;
    }
  }

  /** Stops the microphone; the final for what was being said still arrives. */
  async stop(): Promise<void> {
    await this.controller?.stop();
  }

  private async createController(): Promise<SttController> {
    const keyterms = (this.getAttribute('keyterms') ?? '').split(',').map((k) => k.trim()).filter(Boolean);
    const client = await openClient({ server: this.getAttribute('server') ?? undefined, token: this.token, keyterms });
    const mic = new MicCapture({ sampleRate: STT_CONFIG.sampleRate, channels: 1, bufferSize: STT_CONFIG.bufferSize, audioConstraints: STT_CONFIG.audioConstraints });
    const ui = { showRealtimePreview: true, showStabilizedOnly: false, autoSendOnFinal: false };
    const controller = new SttController(client, mic, ui, {
      micChange: (on) => {
        this.button.setAttribute('aria-pressed', String(on));
        this.button.setAttribute('aria-label', on ? 'Stop dictation' : 'Start dictation');
        this.meter.setVisible(on);
        this.emit('earshot-state', { listening: on, state: controller.sttState });
      },
      stateChange: (state) => this.emit('earshot-state', { listening: controller.micActive, state }),
      level: (rms) => this.meter.set(rms),
      previewText: (parts) => {
        this.showPreview(parts.stable, parts.unstable);
        this.emit('earshot-partial', parts);
      },
      previewReset: () => this.showPreview('', ''),
      previewClose: () => this.showPreview('', ''),
      final: (text) => {
        this.showPreview('', '');
        this.fill(text);
        this.emit('earshot-final', { text });
      },
      error: (code, detail) => this.emit('earshot-error', { code, message: describeError(code, detail) }),
    });
    this.client = client;
    this.controller = controller;
    return controller;
  }

  private showPreview(stable: string, unstable: string): void {
    this.stable.textContent = stable;
    this.unstable.textContent = unstable;
  }

  /** Appends a final to the target field, as typing would (an `input` event follows). */
  private fill(text: string): void {
    const selector = this.getAttribute('target');
    const field = selector ? document.querySelector(selector) : null;
    if (!(field instanceof HTMLInputElement || field instanceof HTMLTextAreaElement)) return;
    field.value = field.value && !/\s$/.test(field.value) ? `${field.value} ${text}` : field.value + text;
    field.dispatchEvent(new Event('input', { bubbles: true }));
  }

  private emit(type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}

if (typeof customElements !== 'undefined' && !customElements.get('earshot-dictation')) customElements.define('earshot-dictation', EarshotDictationElement);

declare global {
  interface HTMLElementTagNameMap {
    'earshot-dictation': EarshotDictationElement;
  }
}
