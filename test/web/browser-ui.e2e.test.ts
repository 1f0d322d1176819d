// The web client's UI in Chromium against a scripted server (no models needed): what the page sends, and how it
// renders every server message — preview spans, discards, finals (as text, never markup), assistant replies, errors,
// the seed's UI options, copy to clipboard. The page is pointed at the fake server with `?ws=`.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { writeWav } from '../../src/audio/wav.ts';
import { browserSkipReason, buildClient, launchBrowser } from './browser-harness.ts';
import { FakeSttServer } from './fake-stt-server.ts';

const skip = browserSkipReason();

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json',
};

/** A bare static file server for the built client. */
async function serveDir(root: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://x').pathname;
    const file = path.join(root, pathname === '/' ? 'index.html' : path.normalize(pathname));
    if (!file.startsWith(root) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function text(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent()) ?? '';
}

describe('web client UI against a scripted server', { skip, timeout: 120_000 }, () => {
  let tmp: string;
  let site: { url: string; close: () => Promise<void> };
  let browser: Browser;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-web-ui-'));
    await buildClient(path.join(tmp, 'dist'));
    site = await serveDir(path.join(tmp, 'dist'));
    // A quiet tone: the microphone produces frames, nothing needs to be recognised.
    const tone = new Float32Array(16000 * 5).map((_, i) => 0.05 * Math.sin((2 * Math.PI * 220 * i) / 16000));
    const wav = path.join(tmp, 'tone.wav');
    fs.writeFileSync(wav, writeWav(tone, 16000));
    browser = await launchBrowser({ wav, loop: true });
  });

  after(async () => {
    await browser?.close();
    await site?.close();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function openPage(server: FakeSttServer, options = '') {
    const context = await browser.newContext();
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: site.url });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${site.url}/?ws=${encodeURIComponent(server.url)}${options}`);
    await page.locator('#connection-state[data-state="connected"]').waitFor({ timeout: 60_000 });
    return { page, context, errors };
  }

  test('renders the protocol: preview spans, discard, final as text, prompt, assistant reply, errors', async (t) => {
    const server = await new FakeSttServer().start();
    t.after(() => server.stop());
    const { page, context, errors } = await openPage(server);
    t.after(() => context.close());

    await page.click('#mic-button');
    await server.until(() => server.json('stt_start').length === 1, 5000, 'stt_start');
    const start = server.json('stt_start')[0]!;
    assert.equal(start.sample_rate, 16000);
    assert.match(String(start.session_id), /^[0-9a-f-]{36}$/);
    const session_id = start.session_id;
    await server.until(() => server.binaryBytes() >= 3 * 2048, 5000, 'audio frames');
    const sizes = new Set(server.received.filter((r) => r.kind === 'binary').map((r) => r.bytes.length));
    assert.deepEqual([...sizes], [2048], 'frames of 1024 samples (64 ms at 16 kHz)');

    server.send({ type: 'stt_listening', session_id });
    server.send({ type: 'stt_state', state: 'listening', session_id });
    await page.locator('#mic-button[data-state="listening"].listening').waitFor();
    assert.equal(await text(page, '.stt-preview .stt-placeholder'), 'Listening…');

    server.send({ type: 'stt_recording_start', session_id });
    server.send({ type: 'stt_state', state: 'recording', session_id });
    server.send({ type: 'stt_update', text: '<b>bold</b> hello there', session_id });
    server.send({ type: 'stt_stabilized', text: '<b>bold</b> hello', session_id });
    await page.locator('.stt-preview .stt-stable:text-is("<b>bold</b> hello")').waitFor();
    assert.equal(await text(page, '.stt-preview .stt-unstable'), ' there');
    assert.equal(await page.locator('.stt-preview b').count(), 0, 'markup in text stays text');
    assert.equal(await page.locator('.stt-preview .stt-placeholder').isVisible(), false);
    assert.equal(await page.locator('#mic-button').getAttribute('class'), 'mic-button active recording');
    const unstableStyle = await page.evaluate(`getComputedStyle(document.querySelector('.stt-unstable')).fontStyle`);
    assert.equal(unstableStyle, 'italic');

    server.send({ type: 'stt_discarded', utterance: 1, reason: 'no_text', session_id });
    await page.locator('.stt-preview:not(.has-text) .stt-placeholder:text-is("Listening…")').waitFor();
    assert.equal(await text(page, '.stt-preview .stt-stable'), '');

    server.send({ type: 'stt_update', text: 'second', session_id });
    server.send({ type: 'stt_recording_stop', session_id });
    server.send({ type: 'stt_state', state: 'transcribing', session_id });
    await page.locator('#mic-button[data-state="transcribing"].processing').waitFor();
    assert.equal(await text(page, '#stt-state'), 'transcribing');
    const final = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> Second.';
    server.send({ type: 'stt_final', text: final, utterance: 2, latency_ms: 210, session_id });
    server.send({ type: 'stt_state', state: 'listening', session_id });
    await page.locator('.message.user-message').first().waitFor();
    assert.deepEqual(await page.locator('.message.user-message .message-text').allTextContents(), [final]);
    assert.equal(await page.locator('.messages script, .messages img').count(), 0);
    assert.equal(await page.evaluate('window.__pwned'), undefined);
    assert.equal(await text(page, '#announcer'), `You said: ${final}`);
    assert.equal(await page.locator('.stt-preview').count(), 1, 'a new preview for the next utterance');
    await server.until(() => server.json('prompt').length === 1, 5000, 'prompt');
    assert.deepEqual(server.json('prompt')[0], { type: 'prompt', text: final, session_id });

    server.send({ type: 'assistant_delta', text: 'Hello ' });
    server.send({ type: 'assistant_delta', text: '<i>there</i>' });
    await page.locator('.message.assistant-message.streaming').waitFor();
    server.send({ type: 'assistant_done' });
    await page.locator('.message.assistant-message:not(.streaming)').waitFor();
    assert.equal(await text(page, '.message.assistant-message .message-text'), 'Hello <i>there</i>');
    // The preview bubble stays last, below the assistant's reply.
    assert.equal(await page.locator('.messages > :last-child.stt-preview').count(), 1);

    server.send({ type: 'stt_error', error: 'Transcription model failed to load', code: 'MODEL_LOAD_ERROR', session_id });
    await page.locator('#stt-error[data-code="MODEL_LOAD_ERROR"]').waitFor();
    assert.match(await text(page, '#stt-error .error-text'), /could not load its speech model/);
    await page.click('#stt-error .error-dismiss');
    assert.equal(await page.locator('#stt-error').isVisible(), false);
    server.send({ type: 'stt_error', error: 'Binary frame has an odd length', code: 'BAD_AUDIO', session_id: null });
    await page.locator('#stt-error[data-code="BAD_AUDIO"]').waitFor();
    assert.equal(await text(page, '#stt-error .error-text'), 'The server reported a problem: Binary frame has an odd length');

    // Copy the conversation.
    await page.click('#copy-button');
    await page.locator('#toast:text-is("Conversation copied")').waitFor();
    const copied = (await page.evaluate('navigator.clipboard.readText()')) as string;
    assert.match(copied, /^\[\d\d:\d\d:\d\d\] You: <script>.*Second\.\n\[\d\d:\d\d:\d\d\] Assistant: Hello <i>there<\/i>\n$/);

    // Stop: the last partial frame, then stt_stop; the server's idle ends it.
    server.send({ type: 'stt_update', text: 'trailing words', session_id });
    await page.locator('.stt-preview.has-text').waitFor();
    await page.click('#mic-button');
    await server.until(() => server.json('stt_stop').length === 1, 5000, 'stt_stop');
    assert.deepEqual(server.json('stt_stop')[0], { type: 'stt_stop', session_id });
    const last = server.received.at(-1)!;
    assert.ok(last.kind === 'json' && last.value.type === 'stt_stop', 'nothing is sent after stt_stop');
    assert.equal(await text(page, '#stt-state'), 'idle');
    // The utterance in progress waits (pending) for its final, which converts it into a message.
    assert.equal(await page.locator('.stt-preview.pending').count(), 1);
    server.send({ type: 'stt_final', text: 'Trailing words.', session_id });
    server.send({ type: 'stt_state', state: 'idle', session_id });
    await page.locator('.message.user-message >> nth=1').waitFor();
    assert.deepEqual(await page.locator('.message.user-message .message-text').allTextContents(), [final, 'Trailing words.']);
    assert.equal(await page.locator('.stt-preview').count(), 0);
    assert.equal(await text(page, '#stt-state'), 'idle');
    assert.deepEqual(errors, []);
  });

  test('showStabilizedOnly, autoSendOnFinal off and showRealtimePreview off are honoured', async (t) => {
    const server = await new FakeSttServer().start();
    t.after(() => server.stop());
    {
      const { page, context } = await openPage(server, '&showStabilizedOnly=1&autoSendOnFinal=0');
      await page.click('#mic-button');
      await server.until(() => server.json('stt_start').length === 1, 5000, 'stt_start');
      const session_id = server.json('stt_start')[0]!.session_id;
      server.send({ type: 'stt_update', text: 'one two three', session_id });
      server.send({ type: 'stt_stabilized', text: 'one', session_id });
      await page.locator('.stt-preview .stt-stable:text-is("one")').waitFor();
      assert.equal(await text(page, '.stt-preview .stt-unstable'), '');
      server.send({ type: 'stt_final', text: 'One two three.', session_id });
      await page.locator('.message.user-message').waitFor();
      await page.click('#mic-button');
      await server.until(() => server.json('stt_stop').length === 1, 5000, 'stt_stop');
      assert.equal(server.json('prompt').length, 0, 'no prompt with autoSendOnFinal off');
      await context.close();
    }
    {
      const { page, context } = await openPage(server, '&showRealtimePreview=0');
      await page.click('#mic-button');
      await server.until(() => server.json('stt_start').length === 2, 5000, 'stt_start');
      const session_id = server.json('stt_start')[1]!.session_id;
      server.send({ type: 'stt_update', text: 'not shown', session_id });
      server.send({ type: 'stt_final', text: 'Shown.', session_id });
      await page.locator('.message.user-message').waitFor();
      assert.equal(await page.locator('.stt-preview').count(), 0);
      await server.until(() => server.json('prompt').length === 1, 5000, 'prompt');
      await context.close();
    }
  });
});
