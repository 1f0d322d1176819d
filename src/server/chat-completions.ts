import { EventSourceParserStream } from 'eventsource-parser/stream';

/** The assistant side of the chat: an OpenAI-compatible /chat/completions endpoint, streamed (EARSHOT_CHAT_URL). */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface ChatEndpoint {
  /** Full URL of the chat-completions endpoint, e.g. http://127.0.0.1:8080/v1/chat/completions. */
  url: string;
  model: string;
  apiKey?: string;
}

/** Yields the reply's text as it streams in (server-sent events, `choices[0].delta.content`). */
export async function* streamChatReply(endpoint: ChatEndpoint, messages: ChatMessage[], signal?: AbortSignal): AsyncGenerator<string> {
  const res = await fetch(endpoint.url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'text/event-stream',
      ...(endpoint.apiKey ? { authorization: `Bearer ${endpoint.apiKey}` } : {}),
    },
    body: JSON.stringify({ model: endpoint.model, messages, stream: true }),
    signal,
  });
  if (!res.ok || !res.body) throw new Error(`chat endpoint answered HTTP ${res.status}`);
  const events = res.body.pipeThrough(new TextDecoderStream()).pipeThrough(new EventSourceParserStream());
  for await (const event of events) {
    if (event.data === '[DONE]') return;
    let chunk: { choices?: Array<{ delta?: { content?: unknown } }> };
    try {
      chunk = JSON.parse(event.data) as typeof chunk;
    } catch {
      throw new Error('chat endpoint sent an event that is not JSON');
    }
    const text = chunk.choices?.[0]?.delta?.content;
    if (typeof text === 'string' && text) yield text;
  }
}
