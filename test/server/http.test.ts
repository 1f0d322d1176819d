import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resample } from '../../src/audio/resample.ts';
import { writeWav } from '../../src/audio/wav.ts';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import type { TranscriptionService } from '../../src/pipeline/transcription-service.ts';
import { clip, clipSamples, conversation, disposeSharedService, metricValue, sharedService, startServer, transcribeOver, werOf, type TestServer } from './helpers.ts';
import { findTool } from '../support/require-tool.ts';

function form(file: Blob | undefined, fields: Record<string, string> = {}, filename = 'audio.wav'): FormData {
  const fd = new FormData();
  if (file) fd.append('file', file, filename);
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  return fd;
}

function wavBlob(samples: Float32Array, rate = 16000): Blob {
  return new Blob([new Uint8Array(writeWav(samples, rate))], { type: "audio/wav" });
}

/** Raw HTTP/1.1 GET, so that paths like /../ reach the server unnormalized. */
function rawGet(port: number, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`));
    let data = '';
    socket.on('data', (d) => (data += d.toString('latin1')));
    socket.on('end', () => resolve({ status: Number(data.split(' ')[1]), body: data.slice(data.indexOf('\r\n\r\n') + 4) }));
    socket.on('error', reject);
  });
}

describe('HTTP routes', () => {
  let t: TestServer;
  let service: TranscriptionService;
  let webRoot: string;

  before(async () => {
    webRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-web-'));
    fs.mkdirSync(path.join(webRoot, 'assets'));
    fs.writeFileSync(path.join(webRoot, 'index.html'), '<!doctype html><title>Earshot</title>');
    fs.writeFileSync(path.join(webRoot, 'assets', 'app-1234.js'), 'console.log(1)');
    fs.writeFileSync(path.join(webRoot, 'assets', 'style.css'), 'body{}');
    fs.writeFileSync(path.join(path.dirname(webRoot), `${path.basename(webRoot)}-secret.txt`), 'secret');
    const loading = sharedService();
    t = await startServer({ service: loading, config: { webRoot, maxUploadBytes: 2 * 1024 * 1024 } });
    service = await loading;
  });

  after(async () => {
    await t.server.close();
    await disposeSharedService();
    fs.rmSync(webRoot, { recursive: true, force: true });
    fs.rmSync(`${webRoot}-secret.txt`, { force: true });
  });

  test('/health is 200; /ready is 503 until the models are loaded, then 200', async () => {
    const notYet = await startServer({});
    try {
      assert.deepEqual(await (await fetch(`${notYet.http}/health`)).json(), { status: 'ok' });
      const loading = await fetch(`${notYet.http}/ready`);
      assert.equal(loading.status, 503);
      assert.deepEqual(await loading.json(), { status: 'loading' });
      notYet.server.useService(service);
      await notYet.server.whenReady();
      const ready = await fetch(`${notYet.http}/ready`);
      assert.equal(ready.status, 200);
      assert.equal(((await ready.json()) as { status: string }).status, 'ready');
    } finally {
      await notYet.server.close();
    }
  });

  test('POST /v1/audio/transcriptions answers a WAV upload with its text (json, text)', async () => {
    const c = clip('sense_and_sensibility_01_austen_64kb-0920.wav');
    const audio = clipSamples(c);
    const res = await fetch(`${t.http}/v1/audio/transcriptions`, { method: 'POST', body: form(wavBlob(audio), { model: 'whisper-1' }) });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const { text } = (await res.json()) as { text: string };
    assert.ok(werOf([text], [c]) <= 0.05, text);

    // 44.1 kHz WAV, plain text answer.
    const res2 = await fetch(`${t.http}/v1/audio/transcriptions`, {
      method: 'POST',
      body: form(wavBlob(resample(audio, 16000, 44100), 44100), { response_format: 'text' }),
    });
    assert.equal(res2.status, 200);
    assert.match(res2.headers.get('content-type') ?? '', /text\/plain/);
    assert.ok(werOf([await res2.text()], [c]) <= 0.05);
  });

  test('a long recording is segmented at pauses (verbose_json segments, srt)', async () => {
    const clips = ['0880', '0930', '0890'].map((n) => clip(`sense_and_sensibility_01_austen_64kb-${n}.wav`));
    const { samples } = conversation(clips, 1);
    const res = await fetch(`${t.http}/v1/audio/transcriptions`, { method: 'POST', body: form(wavBlob(samples), { response_format: 'verbose_json' }) });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { task: string; language: string; duration: number; text: string; segments: Array<{ id: number; start: number; end: number; text: string }> };
    assert.equal(body.task, 'transcribe');
    assert.equal(body.language, 'english');
    assert.ok(Math.abs(body.duration - samples.length / 16000) < 0.01);
    assert.equal(body.segments.length, 3, JSON.stringify(body.segments));
    assert.deepEqual(body.segments.map((s) => s.id), [0, 1, 2]);
    for (let i = 0; i < 3; i++) {
      const s = body.segments[i]!;
      assert.ok(s.start < s.end && (i === 0 || s.start >= body.segments[i - 1]!.end), JSON.stringify(s));
      assert.ok(werOf([s.text], [clips[i]!]) <= 0.15, s.text);
    }
    assert.ok(werOf([body.text], clips) <= 0.05, body.text);

    const srt = await fetch(`${t.http}/v1/audio/transcriptions`, { method: 'POST', body: form(wavBlob(samples), { response_format: 'srt' }) });
    const lines = (await srt.text()).split('\n');
    assert.equal(lines[0], '1');
    assert.match(lines[1]!, /^00:00:\d\d,\d{3} --> 00:00:\d\d,\d{3}$/);
  });

  test('bad uploads: 400 with a JSON error; too large → 413', async () => {
    const post = (body: BodyInit, headers?: Record<string, string>) => fetch(`${t.http}/v1/audio/transcriptions`, { method: 'POST', body, headers });
    const expectError = async (res: Response, status: number, code?: string) => {
      assert.equal(res.status, status);
      const body = (await res.json()) as { error: { message: string; code: string } };
      assert.equal(typeof body.error.message, 'string');
      if (code) assert.equal(body.error.code, code);
    };
    await expectError(await post(form(new Blob(['RIFF\x00\x00\x00\x00WAVEjunk']))), 400, 'TRUNCATED_WAV');
    await expectError(await post(form(undefined, { model: 'x' })), 400, 'MISSING_FILE');
    await expectError(await post('just text', { 'Content-Type': 'text/plain' }), 400, 'BAD_REQUEST');
    await expectError(await post(form(wavBlob(new Float32Array(1600)), { response_format: 'xml' })), 400, 'UNSUPPORTED_RESPONSE_FORMAT');
    await expectError(await post(form(wavBlob(new Float32Array(1600)), { language: 'de' })), 400, 'UNSUPPORTED_LANGUAGE');
    // ffmpeg reads what is not WAV; without it (off CI) the server says so with 415.
    const notAudio = await post(form(new Blob([Buffer.alloc(5000, 7)]), {}, 'noise.mp3'));
    if (findTool('ffmpeg')) await expectError(notAudio, 400, 'NOT_AUDIO');
    else await expectError(notAudio, 415, 'FFMPEG_MISSING');
    await expectError(await post(form(wavBlob(new Float32Array(16000 * 70)))), 413, 'FILE_TOO_LARGE'); // 2.2 MB > 2 MB limit
    await expectError(await fetch(`${t.http}/v1/audio/transcriptions`), 405, 'METHOD_NOT_ALLOWED');
    // Silence is not an error: empty text.
    const quiet = await post(form(wavBlob(new Float32Array(16000))));
    assert.equal(((await quiet.json()) as { text: string }).text, '');
    assert.ok((await metricValue(t.http, 'earshot_sessions')) === 0);
  });

  test('/metrics speaks the Prometheus text format and counts what happened', async () => {
    // Counted from what this test does, whichever tests ran before it.
    const counters = ['earshot_finals_total', 'earshot_utterances_total', 'earshot_final_latency_seconds_count', 'earshot_errors_total{code="MISSING_FILE"}'];
    const read = () => Promise.all(counters.map(async (name) => (await metricValue(t.http, name)) ?? 0));
    const before = await read();
    const client = await EarshotClient.connect(t.ws);
    const c = clip('goforward.wav');
    await transcribeOver(client, conversation([c], 0.5).samples, { realtime: true, speed: 2 });
    await client.close();
    const missing = await fetch(`${t.http}/v1/audio/transcriptions`, { method: 'POST', body: form(undefined, { model: 'x' }) });
    assert.equal(missing.status, 400);
    const deltas = (await read()).map((v, i) => v - before[i]!);
    assert.deepEqual(Object.fromEntries(counters.map((name, i) => [name, deltas[i]])), Object.fromEntries(counters.map((name) => [name, 1])), 'one utterance, one final, one MISSING_FILE');
    const res = await fetch(`${t.http}/metrics`);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    for (const name of [
      'earshot_sessions',
      'earshot_utterances_total',
      'earshot_finals_total',
      'earshot_partials_total',
      'earshot_errors_total',
      'earshot_inference_queue_depth',
      'earshot_final_latency_seconds',
      'earshot_inference_seconds',
      'earshot_realtime_factor',
      'process_resident_memory_bytes',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    // Every sample line is NAME{labels} VALUE.
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#'))) {
      assert.match(line, /^[a-z_:][a-z0-9_:]*(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [-+0-9.eInfNa]+$/i, line);
    }
    assert.match(text, /^earshot_inference_seconds_count\{kind="final"\} [1-9]/m);
    assert.match(text, /^earshot_realtime_factor\{kind="final"\} 0\.\d+/m);
    // The finals' CPU time, measured in the inference thread (Linux schedstat).
    const finalCpu = Number(/^earshot_inference_thread_seconds_total\{kind="final",state="run"\} ([0-9.e+-]+)$/m.exec(text)?.[1]);
    assert.ok(finalCpu > 0, `final CPU seconds ${finalCpu}`);
    const vad = (kind: string) => Number(new RegExp(`^earshot_vad_windows_total\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    assert.ok(vad('window') > 0 && vad('run') > 0 && vad('run') <= vad('window'), `VAD windows ${vad('window')}, runs ${vad('run')}`);
    assert.ok((await metricValue(t.http, 'process_resident_memory_bytes'))! > 10e6);
  });

  test('the web client is served from web/dist with content types; no directory traversal', async () => {
    const index = await fetch(`${t.http}/`);
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await index.text(), /<title>Earshot<\/title>/);
    const js = await fetch(`${t.http}/assets/app-1234.js`);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    assert.match((await fetch(`${t.http}/assets/style.css`)).headers.get('content-type') ?? '', /^text\/css/);
    assert.equal((await fetch(`${t.http}/assets/missing.js`)).status, 404);
    assert.equal((await fetch(`${t.http}/index.html`, { method: 'HEAD' })).status, 200);
    const port = Number(new URL(t.http).port);
    const secret = `${path.basename(webRoot)}-secret.txt`;
    for (const target of [`/../${secret}`, `/..%2f${secret}`, `/%2e%2e/${secret}`, '/../../../../etc/passwd', '/%2e%2e%2f%2e%2e%2fetc/passwd', '/assets/..%5c..%5cetc%5cpasswd', '/%00', '/%E0%A4%A']) {
      const res = await rawGet(port, target);
      assert.ok(res.status === 404 || res.status === 400, `${target} → ${res.status}`);
      assert.ok(!res.body.includes('secret') && !res.body.includes('root:'), target);
    }
    assert.equal((await fetch(`${t.http}/ws/stream`)).status, 426);
    assert.equal((await fetch(`${t.http}/`, { method: 'DELETE' })).status, 405);
  });

  test('without a built web client, / says how to build it', async () => {
    const bare = await startServer({ service, config: { webRoot: path.join(webRoot, 'does-not-exist') } });
    try {
      const res = await fetch(`${bare.http}/`);
      assert.equal(res.status, 200);
      assert.match(await res.text(), /not built[\s\S]*vite build/);
      assert.equal((await fetch(`${bare.http}/app.js`)).status, 404);
    } finally {
      await bare.server.close();
    }
  });
});
