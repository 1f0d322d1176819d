/**
 * The conversation: user messages (spoken finals and typed text), assistant messages, and the live preview bubble.
 * Every piece of transcript text goes in with textContent (never innerHTML).
 *
 * Preview lifecycle: open → text (stable span + unstable span) → finalize (the bubble itself becomes the
 * `.message.user-message`) → a new bubble opens for the next utterance. When the mic stops mid-utterance the bubble
 * stays as "pending" until the stopped session's final converts it (or it is dropped).
 */
import type { PreviewParts } from './preview-text.ts';
import { formatTranscript, type TranscriptEntry } from './transcript.ts';

interface Bubble {
  root: HTMLElement;
  stable: HTMLElement;
  unstable: HTMLElement;
  placeholder: HTMLElement;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function clock(d: Date): string {
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export class ChatView {
  private live: Bubble | null = null;
  private pending: Bubble | null = null;
  private assistant: { root: HTMLElement; text: HTMLElement; entry: TranscriptEntry } | null = null;
  private readonly entries: TranscriptEntry[] = [];
  private readonly changeListeners = new Set<() => void>();

  constructor(
    private readonly container: HTMLElement,
    private readonly announcer: HTMLElement,
    private readonly emptyHint: HTMLElement | null,
  ) {}

  /** Number of messages (user and assistant), not counting previews. */
  get messageCount(): number {
    return this.entries.length;
  }

  /** Called whenever a message is added or completed (to enable the copy/download buttons). */
  onChange(listener: () => void): void {
    this.changeListeners.add(listener);
  }

  transcriptText(): string {
    return formatTranscript(this.entries);
  }

  openPreview(): void {
    if (!this.live) {
      this.live = this.createBubble();
      this.append(this.live.root);
    }
    this.resetPreview('Listening…');
  }

  setPreview(parts: PreviewParts): void {
    if (!this.live) this.openPreview();
    const b = this.live!;
    b.stable.textContent = parts.stable;
    b.unstable.textContent = parts.stable && parts.unstable ? ` ${parts.unstable}` : parts.unstable;
    const empty = !parts.stable && !parts.unstable;
    b.placeholder.hidden = !empty;
    b.root.classList.toggle('has-text', !empty);
    this.scrollToBottom();
  }

  resetPreview(placeholder: string): void {
    const b = this.live;
    if (!b) return;
    b.stable.textContent = '';
    b.unstable.textContent = '';
    b.placeholder.textContent = placeholder;
    b.placeholder.hidden = false;
    b.root.classList.remove('has-text');
  }

  /** Mic off: drop the live bubble, or keep it (dimmed) while its utterance is being finished. */
  closePreview(keepPending: boolean): void {
    const b = this.live;
    this.live = null;
    if (!b) return;
    if (keepPending && b.root.classList.contains('has-text')) {
      this.dropPending();
      b.root.classList.add('pending');
      this.pending = b;
    } else {
      b.root.remove();
    }
  }

  dropPending(): void {
    this.pending?.root.remove();
    this.pending = null;
  }

  /** A final: the live (or pending) bubble becomes the user message; without one a new message is added. */
  addFinal(text: string, afterStop: boolean): HTMLElement {
    const bubble = afterStop ? this.pending : this.live;
    if (afterStop) this.pending = null;
    else this.live = null;
    const root = bubble?.root ?? null;
    const message = this.fillUserMessage(root ?? el('div'), text, 'voice');
    if (!root) this.append(message);
    this.announce(`You said: ${text}`);
    this.scrollToBottom();
    return message;
  }

  /** A typed message. */
  addTyped(text: string, queued: boolean): HTMLElement {
    const message = this.fillUserMessage(el('div'), text, 'typed');
    if (queued) message.classList.add('queued');
    this.insertBeforePreviews(message);
    this.scrollToBottom();
    return message;
  }

  markSent(message: HTMLElement): void {
    message.classList.remove('queued');
  }

  appendAssistant(delta: string): void {
    if (!this.assistant) {
      const root = el('div', 'message assistant-message streaming');
      const text = el('p', 'message-text');
      const entry: TranscriptEntry = { role: 'assistant', text: '', time: new Date() };
      root.append(text, el('span', 'message-meta', `Assistant · ${clock(entry.time)}`));
      this.entries.push(entry);
      this.assistant = { root, text, entry };
      this.insertBeforePreviews(root);
    }
    this.assistant.entry.text += delta;
    this.assistant.text.textContent = this.assistant.entry.text;
    this.scrollToBottom();
  }

  finishAssistant(fullText?: string): void {
    if (fullText !== undefined && fullText !== '') {
      if (!this.assistant) this.appendAssistant('');
      this.assistant!.entry.text = fullText;
      this.assistant!.text.textContent = fullText;
    }
    const a = this.assistant;
    this.assistant = null;
    if (!a) return;
    a.root.classList.remove('streaming');
    this.announce(`Assistant: ${a.entry.text}`);
    this.changed();
  }

  private fillUserMessage(root: HTMLElement, text: string, source: 'voice' | 'typed'): HTMLElement {
    const entry: TranscriptEntry = { role: 'user', text, time: new Date() };
    this.entries.push(entry);
    root.className = 'message user-message';
    root.dataset.source = source;
    root.removeAttribute('aria-hidden');
    root.replaceChildren(
      el('p', 'message-text', text),
      el('span', 'message-meta', `${source === 'voice' ? 'Spoken' : 'Typed'} · ${clock(entry.time)}`),
    );
    this.changed();
    return root;
  }

  private createBubble(): Bubble {
    const root = el('div', 'message stt-preview');
    // The live region announces finals; the flickering preview itself stays out of the accessibility tree.
    root.setAttribute('aria-hidden', 'true');
    const line = el('p', 'stt-text');
    const stable = el('span', 'stt-stable');
    const unstable = el('span', 'stt-unstable');
    const placeholder = el('span', 'stt-placeholder', 'Listening…');
    line.append(stable, unstable, placeholder);
    root.append(el('span', 'pulse-dot'), line);
    return { root, stable, unstable, placeholder };
  }

  private append(node: HTMLElement): void {
    this.container.append(node);
    this.updateEmptyHint();
  }

  /** Typed and assistant messages go above the preview bubbles, which always stay last. */
  private insertBeforePreviews(node: HTMLElement): void {
    const first = [this.pending?.root, this.live?.root].find((n) => n?.parentElement === this.container);
    if (first) this.container.insertBefore(node, first);
    else this.container.append(node);
    this.updateEmptyHint();
  }

  private updateEmptyHint(): void {
    if (this.emptyHint) this.emptyHint.hidden = this.container.children.length > 0;
  }

  private announce(text: string): void {
    // Re-setting the same text would not be announced again; clear first.
    this.announcer.textContent = '';
    this.announcer.textContent = text;
  }

  private scrollToBottom(): void {
    const scroller = this.container.parentElement ?? this.container;
    scroller.scrollTop = scroller.scrollHeight;
  }

  private changed(): void {
    for (const l of this.changeListeners) l();
  }
}
