/** Earshot web client: wires the client, the microphone, the controller and the views together. */
import { EarshotClient, type ConnectionState } from '../../src/client/earshot-client.ts';
import type { SttState } from '../../src/protocol/seed-messages.ts';
import './styles.css';
import { MicCapture } from './audio/mic-capture.ts';
import { loadConfig, resolveWsUrl } from './config.ts';
import { SttController } from './stt-controller.ts';
import { ChatView } from './ui/chat-view.ts';
import { ErrorBanner } from './ui/error-banner.ts';
import { LevelMeter } from './ui/level-meter.ts';
import { MicButton } from './ui/mic-button.ts';
import { StatusView } from './ui/status-view.ts';
import { transcriptFileName } from './ui/transcript.ts';

/** Test and debugging hook (read-only views of the client's state). */
export interface EarshotHook {
  micActive(): boolean;
  trackStates(): string[];
  audioContextState(): string;
  sampleRate(): number;
  sttState(): SttState;
  connectionState(): ConnectionState;
  sessionId(): string | null;
  framesDropped(): number;
}

declare global {
  interface Window {
    __earshot?: EarshotHook;
  }
}

function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from index.html`);
  return node as T;
}

const config = loadConfig(location.search);

const client = new EarshotClient({
  url: resolveWsUrl(config.wsUrl, location.href),
  token: config.token,
  reconnect: config.reconnect,
});
const mic = new MicCapture({
  sampleRate: config.sampleRate,
  channels: config.channels,
  bufferSize: config.bufferSize,
  audioConstraints: config.audioConstraints,
});

const micButton = new MicButton(byId<HTMLButtonElement>('mic-button'));
const meter = new LevelMeter(byId('level-meter'));
const status = new StatusView(byId('stt-state'), byId('connection-state'));
const errors = new ErrorBanner(byId('stt-error'));
const chat = new ChatView(byId('messages'), byId('announcer'), document.getElementById('empty-hint'));
const input = byId<HTMLInputElement>('message-input');
const copyButton = byId<HTMLButtonElement>('copy-button');
const downloadButton = byId<HTMLButtonElement>('download-button');
const toast = byId('toast');

const queuedMessages: HTMLElement[] = [];

const controller = new SttController(client, mic, config.ui, {
  micChange: (on) => {
    micButton.setActive(on);
    meter.setVisible(on);
    document.body.classList.toggle('mic-on', on);
  },
  busyChange: (busy) => micButton.setBusy(busy),
  stateChange: (state) => {
    micButton.setState(state);
    status.setSttState(state);
  },
  connectionChange: (state, info) => {
    status.setConnection(state, info);
    if (state === 'connected') {
      for (const m of queuedMessages.splice(0)) chat.markSent(m);
    }
  },
  level: (rms) => meter.set(rms),
  previewOpen: () => chat.openPreview(),
  previewText: (parts) => chat.setPreview(parts),
  previewReset: (placeholder) => chat.resetPreview(placeholder),
  previewClose: (keep) => chat.closePreview(keep),
  pendingDone: () => chat.dropPending(),
  final: (text, info) => chat.addFinal(text, info.afterStop),
  error: (code, detail) => errors.show(code, detail),
  errorClear: () => errors.clear(),
  assistantDelta: (text) => chat.appendAssistant(text),
  assistantDone: (text) => chat.finishAssistant(text),
});

micButton.onToggle(() => void controller.toggle());

// Space toggles the mic unless focus is somewhere Space already means something (text box, buttons, links).
document.addEventListener('keydown', (event) => {
  if (event.code !== 'Space' && event.key !== ' ') return;
  if (event.repeat || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
  const target = event.target as HTMLElement | null;
  if (target?.closest('input, textarea, select, button, a[href], [contenteditable]:not([contenteditable="false"])')) return;
  event.preventDefault();
  void controller.toggle();
});

byId<HTMLFormElement>('compose-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.value = '';
  const sent = controller.sendPrompt(text);
  const message = chat.addTyped(text, !sent);
  if (!sent) {
    queuedMessages.push(message);
    errors.show('NOT_CONNECTED');
  }
});

function showToast(text: string): void {
  toast.textContent = text;
  toast.hidden = false;
  window.clearTimeout(Number(toast.dataset.timer));
  toast.dataset.timer = String(window.setTimeout(() => (toast.hidden = true), 2000));
}

async function copyText(text: string): Promise<void> {
  if (navigator.clipboard?.writeText) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      // fall back below (no permission, not focused)
    }
  }
  const area = document.createElement('textarea');
  area.value = text;
  area.setAttribute('readonly', '');
  area.className = 'visually-hidden';
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('copy failed');
}

copyButton.addEventListener('click', () => {
  copyText(chat.transcriptText()).then(
    () => showToast('Conversation copied'),
    () => errors.show('CLIPBOARD_FAILED'),
  );
});

downloadButton.addEventListener('click', () => {
  const blob = new Blob([chat.transcriptText()], { type: 'text/plain;charset=utf-8' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = transcriptFileName(new Date());
  document.body.append(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 1000);
});

chat.onChange(() => {
  const empty = chat.messageCount === 0;
  copyButton.disabled = empty;
  downloadButton.disabled = empty;
});

window.__earshot = {
  micActive: () => mic.active,
  trackStates: () => mic.trackStates(),
  audioContextState: () => mic.contextState,
  sampleRate: () => controller.declaredSampleRate,
  sttState: () => controller.sttState,
  connectionState: () => client.state,
  sessionId: () => controller.currentSessionId,
  framesDropped: () => client.framesDropped,
};

status.setSttState('idle');
status.setConnection(client.state, { attempt: 0 });
void client.connect();
