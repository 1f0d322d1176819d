// The browser SDK in Chromium against `earshot serve` (with EARSHOT_TOKEN; the pages get a signed short-lived token):
// a page written against the standard SpeechRecognition API only, and a page with only <earshot-dictation>, both
// transcribe the fixture speech from a fake microphone with the same finals as the seed protocol on the same audio:
// one per sentence, the same words (within a word or two: the server writes a final with its realtime model when
// the final model is busy, and the two may spell a word differently, e.g. "ill-disposed" / "old-disposed").
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { normalizeWords, wer } from '../../eval/wer.ts';
import { writeWav } from '../../src/audio/wav.ts';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { signToken } from '../../src/server/security.ts';
import { clipSamples, concat } from '../../eval/conversation.ts';
import { SPEECH_CLIPS } from '../../eval/speech.ts';
import { browserSkipReason, buildClient, freePort, launchBrowser, ServerProcess, sleep } from './browser-harness.ts';

const skip = browserSkipReason();
const TOKEN = 'sdk-test-server-token';
const CLIPS = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav').slice(0, 3);

/** Word error rate of `texts` against the seed protocol's finals (lowercase, no punctuation). */
function werAgainst(seed: string[], texts: string[]): number {
  return wer([{ reference: seed.join(' '), hypothesis: texts.join(' ') }]).wer;
}

describe('browser SDK in Chromium against earshot serve', { skip, timeout: 300_000 }, () => {
  let tmp: string;
  let server: ServerProcess;
  let wav: string;
  /** The seed protocol's finals for the fixture, from the Node client on the same audio. */
  let seedFinals: string[];
  const browsers: Browser[] = [];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-sdk-'));
    const webRoot = path.join(tmp, 'dist');
    await buildClient(webRoot);
    server = new ServerProcess(await freePort(), webRoot, { EARSHOT_TOKEN: TOKEN });
    await server.start();
    // 1 s of silence, the sentences 1.5 s apart, 2 s after: the microphone plays it once.
    const gap = new Float32Array(24000);
    const samples = concat(new Float32Array(16000), ...CLIPS.flatMap((c) => [clipSamples(c), gap]), new Float32Array(8000));
    wav = path.join(tmp, 'speech.wav');
    fs.writeFileSync(wav, writeWav(samples, 16000));
    const client = await EarshotClient.connect(`ws://127.0.0.1:${server.port}/ws/stream`, { token: TOKEN });
    const finals: string[] = [];
    client.on('final', (m) => finals.push(m.text));
    await client.start();
    await client.streamPcm(samples, { realtime: true }); // as a microphone does: at real time
    await client.stop();
    await client.close();
    seedFinals = finals;
    assert.equal(seedFinals.length, CLIPS.length, JSON.stringify(seedFinals));
  });

  after(async () => {
    for (const b of browsers) await b.close().catch(() => {});
    await server?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function open(pagePath: string, allowMic = true): Promise<{ page: Page; errors: string[] }> {
    for (const b of browsers.splice(0)) await b.close().catch(() => {});
    const browser = await launchBrowser({ wav, allowMic });
    browsers.push(browser);
    const page = await (await browser.newContext()).newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    const token = signToken(TOKEN, { ttlSeconds: 300 });
    await page.goto(`${server.url}${pagePath}?token=${encodeURIComponent(token)}`);
    return { page, errors };
  }

  /** Polls `read` until it yields as many finals as the seed protocol gave (or the time is up); returns the last. */
  async function settle(read: () => Promise<string[]>, timeoutMs = 90_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let finals = await read();
    while (Date.now() < deadline && finals.length < seedFinals.length) {
      await sleep(300);
      finals = await read();
    }
    await sleep(2500); // a final too many would show up here
    return read();
  }

  function assertSameFinals(finals: string[]): void {
    const detail = `page: ${finals.join(' | ')}\nseed: ${seedFinals.join(' | ')}`;
    assert.equal(finals.length, seedFinals.length, detail);
    assert.ok(werAgainst(seedFinals, finals) <= 0.05, detail);
    assert.ok(normalizeWords(finals.join(' ')).length > 0);
  }

  test('a page using only `new SpeechRecognition()` gets the seed protocol\'s finals, with the standard events', async () => {
    const { page, errors } = await open('/examples/speech-recognition.html');
    await page.click('#start');
    const finals = await settle(() => page.locator('#finals li').allInnerTexts());
    await page.click('#stop');
    await page.locator('#events li', { hasText: /^end$/ }).waitFor({ timeout: 60_000 });
    assertSameFinals(await page.locator('#finals li').allInnerTexts());
    assert.equal((await page.locator('#finals li').allInnerTexts()).length, finals.length, 'nothing more after stop');
    const events = await page.locator('#events li').allInnerTexts();
    assert.deepEqual(events.slice(0, 2), ['start', 'audiostart']);
    for (const e of ['soundstart', 'speechstart', 'speechend', 'audioend']) assert.ok(events.includes(e), `${e} in ${events}`);
    assert.equal(events.at(-1), 'end');
    assert.ok(!events.some((e) => e.startsWith('error')), events.join());
    assert.deepEqual(errors, []);
  });

  test('a page with only <earshot-dictation> fills its text field with the seed protocol\'s finals', async () => {
    const { page, errors } = await open('/examples/dictation.html');
    await page.evaluate(() => {
      const w = window as unknown as { finals: string[] };
      w.finals = [];
      document.querySelector('earshot-dictation')!.addEventListener('earshot-final', (e) => w.finals.push((e as CustomEvent<{ text: string }>).detail.text));
    });
    const button = page.locator('earshot-dictation').locator('button');
    await button.click();
    await page.locator('earshot-dictation button[aria-pressed="true"]').waitFor({ timeout: 60_000 });
    const finals = await settle(() => page.evaluate(() => (window as unknown as { finals: string[] }).finals));
    await button.click();
    await page.locator('earshot-dictation button[aria-pressed="false"]').waitFor({ timeout: 60_000 });
    assertSameFinals(finals);
    assert.equal(await page.locator('#message').inputValue(), finals.join(' '), 'the finals, in order, in the text field');
    assert.deepEqual(errors, []);
  });

  test('<earshot-dictation keyterms="…"> sends its keyterms (the server counts a session with keyterms), which insert nothing', async () => {
    const keytermSessions = async () => {
      const text = await (await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } })).text();
      return Number(/^earshot_keyterm_sessions_total (\S+)$/m.exec(text)?.[1] ?? 0);
    };
    const before = await keytermSessions();
    const { page, errors } = await open('/examples/dictation.html');
    await page.evaluate(() => {
      const w = window as unknown as { finals: string[] };
      w.finals = [];
      const dictation = document.querySelector('earshot-dictation')!;
      dictation.setAttribute('keyterms', 'clubs:2, Dashwood');
      dictation.addEventListener('earshot-final', (e) => w.finals.push((e as CustomEvent<{ text: string }>).detail.text));
    });
    const button = page.locator('earshot-dictation').locator('button');
    await button.click();
    await page.locator('earshot-dictation button[aria-pressed="true"]').waitFor({ timeout: 60_000 });
    const finals = await settle(() => page.evaluate(() => (window as unknown as { finals: string[] }).finals));
    await button.click();
    assert.equal(await keytermSessions(), before + 1);
    assertSameFinals(finals);
    assert.doesNotMatch(finals.join(' '), /clubs/i);
    assert.deepEqual(errors, []);
  });

  test('SpeechRecognition: a denied microphone is `not-allowed`, then `end`', async () => {
    const { page } = await open('/examples/speech-recognition.html', false);
    await page.click('#start');
    await page.locator('#events li', { hasText: /^end$/ }).waitFor({ timeout: 60_000 });
    assert.deepEqual(await page.locator('#events li').allInnerTexts(), ['error:not-allowed', 'end']);
  });
});
