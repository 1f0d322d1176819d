import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { normalizeWords } from '../../eval/wer.ts';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { clip, clipSamples, concat, disposeSharedService, finals, metricValue, record, sharedService, silence, startServer, waitFor, werOf } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(ROOT, 'bin', 'earshot.js');
const LONG = clip('sense_and_sensibility_01_austen_64kb-0870.wav');
/** Ceiling for what takes seconds (a start, a drain): only a hang reaches it. */
const HANG_MS = 120_000;

/** Silence, then the first 60% of a 7 s sentence: the utterance is still open when the audio ends. */
function unfinishedSpeech(): Float32Array {
  const speech = clipSamples(LONG);
  return concat(silence(0.5), speech.subarray(0, Math.round(speech.length * 0.6)));
}

function assertPrefix(text: string): void {
  assert.deepEqual(normalizeWords(text).slice(0, 5), normalizeWords(LONG.text).slice(0, 5), text);
}

describe('graceful shutdown', () => {
  after(disposeSharedService);

  test('server.close() with a live session: the final of the utterance in progress, then close 1001', async () => {
    const t = await startServer({ service: await sharedService() });
    const client = await EarshotClient.connect(t.ws);
    const log = record(client);
    await client.start('closing');
    await client.streamPcm(unfinishedSpeech(), { realtime: false });
    await client.next('recordingStart');
    await t.server.close();
    const { code } = await client.closed();
    assert.equal(code, 1001);
    const f = finals(log);
    assert.equal(f.length, 1, JSON.stringify(log.map((m) => m.type)));
    assertPrefix(f[0]!.text);
    // Nothing is accepted afterwards.
    await assert.rejects(EarshotClient.connect(t.ws));
  });

  test('server.drain(): /ready and handshakes 503; idle connections close at once, a sentence in progress finishes first; all with 1012', async () => {
    const t = await startServer({ service: await sharedService() });
    const idle = await EarshotClient.connect(t.ws);
    const silent = await EarshotClient.connect(t.ws);
    await silent.start('silent');
    await silent.streamPcm(silence(1), { realtime: false });
    const speaking = await EarshotClient.connect(t.ws);
    const log = record(speaking);
    await speaking.start('speaking');
    const speech = clipSamples(LONG);
    const cut = Math.round(speech.length * 0.6);
    await speaking.streamPcm(concat(silence(0.5), speech.subarray(0, cut)), { realtime: false });
    await speaking.next('recordingStart');

    const drained = t.server.drain();
    assert.equal((await idle.closed()).code, 1012);
    assert.equal((await silent.closed()).code, 1012);
    const ready = await fetch(`${t.http}/ready`);
    assert.equal(ready.status, 503);
    assert.equal(((await ready.json()) as { status: string }).status, 'draining');
    assert.equal(await metricValue(t.http, 'earshot_draining'), 1);
    await assert.rejects(EarshotClient.connect(t.ws), (e: { status?: number }) => e.status === 503);
    const upload = await fetch(`${t.http}/v1/audio/transcriptions`, { method: 'POST', body: new FormData() });
    assert.equal(upload.status, 503, 'no new upload either: it could be cut when the process exits');
    assert.ok(speaking.open, 'the speaker is not cut off mid-sentence');

    await speaking.streamPcm(concat(speech.subarray(cut), silence(1.5)), { realtime: false });
    assert.equal((await speaking.closed()).code, 1012);
    const f = finals(log);
    assert.equal(f.length, 1, JSON.stringify(log.map((m) => m.type)));
    assert.ok(werOf([f[0]!.text], [LONG]) <= 0.1, `the whole sentence: ${f[0]!.text}`);
    await drained;
  });

  test('server.drain() is bounded: an utterance that never ends is cut after drainMs, its final delivered', async () => {
    const t = await startServer({ service: await sharedService(), config: { drainMs: 1000 } });
    const client = await EarshotClient.connect(t.ws);
    const log = record(client);
    await client.start('endless');
    await client.streamPcm(unfinishedSpeech(), { realtime: false });
    await client.next('recordingStart');
    await t.server.drain();
    assert.equal((await client.closed()).code, 1012);
    const f = finals(log);
    assert.equal(f.length, 1, JSON.stringify(log.map((m) => m.type)));
    assertPrefix(f[0]!.text);
  });

  test('SIGTERM to `earshot serve` mid-sentence: /ready 503, the sentence finishes, close 1012, exit 0', { timeout: HANG_MS * 3 }, async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on('exit', (code) => resolve({ code, at: performance.now() })));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no listening line: ${stderr}`)), HANG_MS);
        child.stderr.on('data', () => {
          const m = /listening on (http:\/\/[\d.]+:\d+)/.exec(stderr);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        });
        child.on('exit', () => reject(new Error(`exited early: ${stderr}`)));
      });
      await waitFor(async () => (await fetch(`${url}/ready`)).status === 200, HANG_MS, 'ready');
      const client = await EarshotClient.connect(`${url.replace('http', 'ws')}/ws/stream`);
      const log = record(client);
      await client.start('sigterm');
      const speech = clipSamples(LONG);
      const cut = Math.round(speech.length * 0.6);
      await client.streamPcm(concat(silence(0.5), speech.subarray(0, cut)), { realtime: false });
      await client.next('recordingStart');
      const signalled = performance.now();
      child.kill('SIGTERM');
      await waitFor(async () => (await fetch(`${url}/ready`)).status === 503, HANG_MS, '/ready 503');
      await client.streamPcm(concat(speech.subarray(cut), silence(1.5)), { realtime: false });
      const { code } = await client.closed();
      assert.equal(code, 1012);
      const f = finals(log);
      assert.equal(f.length, 1, JSON.stringify(log.map((m) => m.type)));
      assert.ok(werOf([f[0]!.text], [LONG]) <= 0.1, `the whole sentence: ${f[0]!.text}`);
      const exit = await exited;
      assert.equal(exit.code, 0, stderr);
      // pino writes JSON lines.
      assert.ok(stderr.trim().split('\n').every((line) => JSON.parse(line).msg !== undefined), stderr);
      console.log(`# SIGTERM → exit in ${Math.round(exit.at - signalled)} ms`);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('earshot serve: start-up checks (one line, exit code)', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: HANG_MS });

  test('bad settings exit 2 with a clear message', () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['--port', '70000'], {}, /--port must be 1-65535/],
      [['--port', 'http'], {}, /--port must be 1-65535/],
      [[], { EARSHOT_PORT: '-5' }, /EARSHOT_PORT must be 1-65535/],
      [[], { EARSHOT_MAX_SESSIONS: 'lots' }, /EARSHOT_MAX_SESSIONS must be 1-10000/],
      [['--model', 'whisper-large'], {}, /--model must be one of moonshine-tiny, moonshine-base/],
      [[], { EARSHOT_ALLOWED_ORIGINS: 'not a url' }, /EARSHOT_ALLOWED_ORIGINS must be a comma-separated list of origins/],
      [['--frobnicate'], {}, /Unknown option '--frobnicate'/],
      // Recorder settings are checked at start too, not when the first session builds its recorder.
      [['--silero-sensitivity', '2'], {}, /--silero-sensitivity must be a number from 0 to 1 \(got "2"\)/],
      [[], { EARSHOT_POST_SPEECH_SILENCE_DURATION: 'x' }, /EARSHOT_POST_SPEECH_SILENCE_DURATION must be a number/],
    ];
    for (const [args, env, message] of cases) {
      const r = run(args, env);
      assert.equal(r.status, 2, `${args.join(' ')} ${JSON.stringify(env)}: ${r.stderr}`);
      assert.match(r.stderr.split('\n')[0]!, message);
    }
  });

  test('a missing model exits 1 naming it and the pull command', () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-no-models-'));
    try {
      const r = run(['--port', '0'], { EARSHOT_MODELS_DIR: empty });
      assert.equal(r.status, 1, r.stderr);
      const lines = r.stderr.trim().split('\n');
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /model "moonshine-base" is not installed.*npx earshot models pull moonshine-base/);
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});
