import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { disposeSharedService, record, sharedService, startServer, type TestServer } from './helpers.ts';

/** A small local stand-in for an OpenAI-compatible chat-completions endpoint, streaming server-sent events. */
function fakeChatEndpoint(): Promise<{ url: string; requests: unknown[]; close(): void }> {
  const requests: unknown[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const request = JSON.parse(body) as { messages: Array<{ role: string; content: string }>; stream: boolean };
      requests.push(request);
      if (request.messages.at(-1)?.content === 'fail please') {
        res.writeHead(500).end('{"error":"boom"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const words = ['You ', 'said: ', request.messages.at(-1)!.content];
      let i = 0;
      const timer = setInterval(() => {
        if (i < words.length) res.write(`data: ${JSON.stringify({ choices: [{ delta: { content: words[i++] } }] })}\n\n`);
        else {
          clearInterval(timer);
          res.end('data: [DONE]\n\n');
        }
      }, 5);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/chat/completions`, requests, close: () => server.close() }),
    ),
  );
}

describe('prompts answered by a chat-completions endpoint', () => {
  let t: TestServer;
  let chat: Awaited<ReturnType<typeof fakeChatEndpoint>>;
  before(async () => {
    chat = await fakeChatEndpoint();
    t = await startServer({ service: await sharedService(), config: { chat: { url: chat.url, model: 'fake' } } });
  });
  after(async () => {
    await t.server.close();
    chat.close();
    await disposeSharedService();
  });

  it('streams the reply as assistant_delta messages, then assistant_done, and keeps the conversation', async () => {
    const client = await EarshotClient.connect(t.ws);
    const log = record(client);
    client.sendJson({ type: 'prompt', text: 'ten of clubs', session_id: 's1' });
    const done = await client.next('assistantDone');
    assert.equal(done.text, 'You said: ten of clubs');
    assert.equal(log.filter((m) => m.type === 'assistant_delta').map((m) => (m as { text: string }).text).join(''), done.text);
    client.sendJson({ type: 'prompt', text: 'go forward', session_id: 's1' });
    await client.next('assistantDone');
    const second = chat.requests[1] as { model: string; stream: boolean; messages: Array<{ role: string; content: string }> };
    assert.equal(second.model, 'fake');
    assert.equal(second.stream, true);
    assert.deepEqual(second.messages.map((m) => m.role), ['user', 'assistant', 'user']);
    await client.close();
  });

  it('answers a failing endpoint with CHAT_FAILED and stays usable', async () => {
    const client = await EarshotClient.connect(t.ws);
    client.sendJson({ type: 'prompt', text: 'fail please' });
    const error = await client.next('error');
    assert.equal(error.code, 'CHAT_FAILED');
    assert.ok((await client.ping()) >= 0);
    await client.close();
  });
});
