import { streamChatReply, type ChatEndpoint, type ChatMessage } from './chat-completions.ts';

export interface ConversationEntry {
  role: 'user' | 'assistant';
  text: string;
  at: number;
}
const MAX_CONVERSATION = 100;

/** What a reply streams out: its pieces, then the whole text; or why it failed. */
export interface ReplySink {
  delta(text: string): void;
  done(text: string): void;
  failed(message: string): void;
}

/**
 * One connection's conversation (prompts and the assistant's replies, the last 100) and, when a chat endpoint is
 * configured, the streamed replies: one at a time, on their own chain, so a slow assistant never delays the
 * transcription commands. Aborted when the connection goes.
 */
export class Assistant {
  readonly conversation: ConversationEntry[] = [];
  private replies: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();

  constructor(private readonly chat?: ChatEndpoint) {}

  /** A prompt: kept, and answered through `sink` when an endpoint is configured. */
  prompt(text: string, sink: ReplySink): void {
    this.remember('user', text);
    const chat = this.chat;
    if (!chat || !text.trim()) return;
    this.replies = this.replies.then(() => this.reply(chat, sink));
  }

  close(): void {
    this.abort.abort();
  }

  private async reply(chat: ChatEndpoint, sink: ReplySink): Promise<void> {
    if (this.abort.signal.aborted) return;
    const messages: ChatMessage[] = this.conversation.map((e) => ({ role: e.role, content: e.text }));
    let text = '';
    try {
      for await (const delta of streamChatReply(chat, messages, this.abort.signal)) {
        text += delta;
        sink.delta(delta);
      }
      this.remember('assistant', text);
      sink.done(text);
    } catch (e) {
      if (!this.abort.signal.aborted) sink.failed(`the assistant could not answer: ${(e as Error).message}`);
    }
  }

  private remember(role: ConversationEntry['role'], text: string): void {
    this.conversation.push({ role, text, at: Date.now() });
    if (this.conversation.length > MAX_CONVERSATION) this.conversation.splice(0, this.conversation.length - MAX_CONVERSATION);
  }
}
