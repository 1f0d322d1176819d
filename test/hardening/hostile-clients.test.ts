// Abuse cases of issue 13, scaled to seconds: idle sockets and silent sessions from one address must not lock out
// another (127.0.0.2), uploads queue and refuse bombs, odd frames get coded errors. Full-size runs: npm run abuse.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeWav } from '../../src/audio/wav.ts';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import type { ServerMessage } from '../../src/protocol/seed-messages.ts';
import type { TranscriptionService } from '../../src/pipeline/transcription-service.ts';
import {
  clip,
  clipSamples,
  concat,
  disposeSharedService,
  finals,
  metricValue,
  record,
  sharedService,
  silence,
  startServer,
  transcribeOver,
  waitFor,
  werOf,
  type TestServer,
} from '../server/helpers.ts';
import { requireTool, skipWithout } from '../support/require-tool.ts';

const OTHER = '127.0.0.2';
const speech = clip('goforward.wav');

/** A normal client from another address: connects and transcribes one clip correctly. */
async function normalClientTranscribes(t: TestServer): Promise<void> {
  const client = await EarshotClient.connect(t.ws, { localAddress: OTHER });
  try {
    const { log } = await transcribeOver(client, concat(silence(0.3), clipSamples(speech), silence(1)));
    const texts = finals(log).map((f) => f.text);
    assert.ok(werOf(texts, [speech]) <= 0.1, `normal client heard ${JSON.stringify(texts)}`);
  } finally {
    await client.close();
  }
}

function errorsOf(log: ServerMessage[]): string[] {
  return log.flatMap((m) => (m.type === 'stt_error' ? [m.code] : []));
}

/** POST a file as multipart to /v1/audio/transcriptions from `localAddress`. */
function upload(t: TestServer, file: Buffer, filename: string, localAddress = '127.0.0.1'): Promise<{ status: number; retryAfter?: string; body: { text?: string; error?: { code: string; message: string } } }> {
  const boundary = `earshot${Math.random().toString(16).slice(2)}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    file,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const url = new URL('/v1/audio/transcriptions', t.http);
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', localAddress, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': body.length } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string | undefined, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let service: TranscriptionService;
before(async () => {
  service = await sharedService();
});
after(() => disposeSharedService());

describe('one address cannot take all capacity', () => {
  let t: TestServer;
  before(async () => {
    t = await startServer({
      service,
      config: {
        maxSessions: 6,
        maxConnections: 24,
        maxSessionsPerClient: 2,
        maxConnectionsPerClient: 4,
        // Lifted so that these tests reach the handshake-level caps; the ones on accept have their own tests below.
        maxSocketsPerClient: 100,
        connectRatePerClient: 100,
        startTimeoutMs: 1000,
        audioIdleTimeoutMs: 1000,
      },
    });
  });
  after(() => t.server.close());

  test('idle connections: the per-client cap refuses with 429, START_TIMEOUT closes with 4408, 127.0.0.2 transcribes', async () => {
    const attempts = await Promise.allSettled(Array.from({ length: 12 }, () => EarshotClient.connect(t.ws)));
    const open = attempts.flatMap((a) => (a.status === 'fulfilled' ? [a.value] : []));
    const refused = attempts.flatMap((a) => (a.status === 'rejected' ? [(a.reason as { status?: number }).status] : []));
    assert.equal(open.length, 4);
    assert.deepEqual(new Set(refused), new Set([429]));
    const logs = open.map(record);
    await normalClientTranscribes(t);
    const closes = await Promise.all(open.map((c) => c.closed()));
    assert.deepEqual(new Set(closes.map((c) => c.code)), new Set([4408]));
    for (const log of logs) assert.deepEqual(errorsOf(log), ['START_TIMEOUT']);
    await waitFor(async () => (await metricValue(t.http, 'earshot_connections')) === 0, 60_000, 'connections back to 0');
    assert.equal(await metricValue(t.http, 'earshot_max_connections'), 24);
    assert.equal(await metricValue(t.http, 'earshot_max_sessions'), 6);
    const again = await EarshotClient.connect(t.ws); // the address's count was given back
    await again.close();
  });

  test('silent sessions: CLIENT_LIMIT beyond the per-client share, AUDIO_IDLE_TIMEOUT stops them, 127.0.0.2 transcribes', async () => {
    const clients = await Promise.all(Array.from({ length: 4 }, () => EarshotClient.connect(t.ws)));
    const logs = clients.map(record);
    const starts = await Promise.allSettled(clients.map((c) => c.start()));
    assert.equal(starts.filter((s) => s.status === 'fulfilled').length, 2);
    assert.deepEqual(logs.flatMap(errorsOf).sort(), ['CLIENT_LIMIT', 'CLIENT_LIMIT']);
    await normalClientTranscribes(t);
    await waitFor(() => logs.filter((l) => errorsOf(l).includes('AUDIO_IDLE_TIMEOUT')).length === 2, 60_000, 'idle sessions stopped');
    await waitFor(async () => (await metricValue(t.http, 'earshot_sessions')) === 0, 60_000, 'sessions back to 0');
    await Promise.all(clients.map((c) => c.close()));
  });

  test('a session whose audio stops mid-utterance is stopped with its final delivered', async () => {
    const client = await EarshotClient.connect(t.ws);
    const log = record(client);
    await client.start();
    await client.streamPcm(concat(silence(0.3), clipSamples(speech)), { realtime: false }); // no trailing silence
    await client.next('state', (m) => m.state === 'idle', 20000);
    const idleError = log.findIndex((m) => m.type === 'stt_error' && m.code === 'AUDIO_IDLE_TIMEOUT');
    const final = log.findIndex((m) => m.type === 'stt_final');
    assert.ok(idleError >= 0 && final > idleError, JSON.stringify(log.map((m) => m.type)));
    assert.ok(werOf(finals(log).map((f) => f.text), [speech]) <= 0.1, JSON.stringify(finals(log)));
    await client.close();
  });
});

/** A raw TCP connection from `localAddress` that sends nothing; `answer` resolves with what the server sent before closing. */
function idleSocket(t: TestServer, localAddress: string): { socket: net.Socket; answer: Promise<string> } {
  const { port } = new URL(t.http);
  const socket = net.connect({ host: '127.0.0.1', port: Number(port), localAddress });
  let got = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => (got += d));
  socket.on('error', () => {});
  return { socket, answer: new Promise((resolve) => socket.on('close', () => resolve(got))) };
}

describe('connections refused on accept, per peer address', () => {
  const ATTACKER = '127.0.0.4'; // not this process's own address, whose /metrics reads must pass

  test('beyond the socket cap: a bare 429 with Retry-After before any HTTP; 127.0.0.2 still transcribes', async () => {
    // 4 WebSockets per client → 8 sockets per address, 4 new ones a second after a burst of 8.
    const t = await startServer({ service, config: { maxConnectionsPerClient: 4 } });
    try {
      const sockets = Array.from({ length: 200 }, () => idleSocket(t, ATTACKER));
      let closed = 0;
      for (const s of sockets) void s.answer.then(() => closed++);
      await waitFor(() => closed === 192, 60_000, '192 refusals');
      const held = sockets.filter((s) => !s.socket.destroyed);
      assert.equal(held.length, 8, 'the 8 admitted sockets stay open, waiting for a request');
      const refusals = await Promise.all(sockets.filter((s) => s.socket.destroyed).map((s) => s.answer));
      for (const a of refusals) {
        assert.match(a, /^HTTP\/1\.1 429 Too Many Requests\r\n/);
        assert.match(a, /\r\nRetry-After: 5\r\n/);
      }
      assert.equal(await metricValue(t.http, 'earshot_refused_connections_total{reason="client_sockets"}'), 192);
      await assert.rejects(EarshotClient.connect(t.ws, { localAddress: ATTACKER }), { status: 429 });
      await normalClientTranscribes(t);
      for (const s of held) s.socket.destroy();
    } finally {
      await t.server.close();
    }
  });

  test('a trusted proxy is not limited on accept; its clients are told apart by X-Forwarded-For', async () => {
    const t = await startServer({ service, config: { maxConnectionsPerClient: 1, trustedProxies: [ATTACKER] } });
    try {
      const sockets = Array.from({ length: 20 }, () => idleSocket(t, ATTACKER));
      const a = await EarshotClient.connect(t.ws, { localAddress: ATTACKER, headers: { 'X-Forwarded-For': '10.0.0.1' } });
      await assert.rejects(EarshotClient.connect(t.ws, { localAddress: ATTACKER, headers: { 'X-Forwarded-For': '10.0.0.1' } }), { status: 429 });
      const b = await EarshotClient.connect(t.ws, { localAddress: ATTACKER, headers: { 'X-Forwarded-For': '10.0.0.2' } });
      assert.equal(sockets.filter((s) => s.socket.destroyed).length, 0);
      assert.equal(await metricValue(t.http, 'earshot_refused_connections_total{reason="client_sockets"}'), 0);
      // Another peer on the same server is limited: 1 WebSocket → 2 sockets.
      const other = Array.from({ length: 5 }, () => idleSocket(t, OTHER));
      await waitFor(async () => (await metricValue(t.http, 'earshot_refused_connections_total{reason="client_sockets"}')) === 3, 60_000, '3 refusals of 127.0.0.2');
      await Promise.all([a.close(), b.close()]);
      for (const s of [...sockets, ...other]) s.socket.destroy();
    } finally {
      await t.server.close();
    }
  });
});

describe('client address behind a trusted proxy', () => {
  test('X-Forwarded-For counts only from a trusted proxy, read from the right', async () => {
    const proxied = await startServer({ service, config: { maxConnectionsPerClient: 1, trustedProxies: ['127.0.0.1'] } });
    const direct = await startServer({ service, config: { maxConnectionsPerClient: 1 } });
    try {
      const via = (t: TestServer, xff: string) => EarshotClient.connect(t.ws, { headers: { 'X-Forwarded-For': xff } });
      const a = await via(proxied, '10.0.0.1');
      await assert.rejects(via(proxied, '10.0.0.1'), { status: 429 });
      await assert.rejects(via(proxied, '10.0.0.1, 10.0.0.1'), { status: 429 });
      const b = await via(proxied, '10.0.0.1, 10.0.0.2'); // a client-written left part does not count
      const c = await via(direct, '10.0.0.1');
      await assert.rejects(via(direct, '10.0.0.2'), { status: 429 }, 'an untrusted peer is the client, whatever it forwards');
      await Promise.all([a, b, c].map((x) => x.close()));
    } finally {
      await Promise.all([proxied.server.close(), direct.server.close()]);
    }
  });
});

describe('odd frames and rates', () => {
  let t: TestServer;
  before(async () => {
    t = await startServer({ service });
  });
  after(() => t.server.close());

  test('deeply nested type or sample_rate → BAD_MESSAGE, and the connection goes on', async () => {
    const client = await EarshotClient.connect(t.ws);
    const log = record(client);
    const nested = '['.repeat(20000) + ']'.repeat(20000);
    client.sendText(`{"type":${nested}}`);
    client.sendText(`{"type":"stt_start","session_id":"s","sample_rate":${nested}}`);
    client.sendText(`{"type":{"a":${nested}}}`);
    client.sendJson({ type: 'ping' });
    await client.next('pong');
    assert.deepEqual(errorsOf(log), ['BAD_MESSAGE', 'BAD_MESSAGE', 'BAD_MESSAGE']);
    await client.close();
  });

  test('audio arriving at another common rate than declared gets a SAMPLE_RATE_MISMATCH warning', async () => {
    const audio = concat(silence(0.3), clipSamples(speech), silence(4));
    // 16 kHz audio sent at real time (16000 samples/s), declared as `declared`.
    const stream = async (declared: number) => {
      const client = await EarshotClient.connect(t.ws);
      const log = record(client);
      await client.start(undefined, { sampleRate: declared });
      await client.streamPcm(audio.subarray(0, 16000 * 6), { realtime: true, sampleRate: 16000 });
      await client.stop();
      await client.close();
      return log;
    };
    const [wrong, right] = await Promise.all([stream(48000), stream(16000)]);
    const warning = wrong.find((m) => m.type === 'stt_error' && m.code === 'SAMPLE_RATE_MISMATCH');
    assert.ok(warning, JSON.stringify(errorsOf(wrong)));
    assert.match((warning as { error: string }).error, /about 16000 samples\/s but stt_start declared sample_rate 48000/);
    assert.deepEqual(errorsOf(right), []);
  });
});

describe('uploads', () => {
  let t: TestServer;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-hostile-'));
  before(async () => {
    t = await startServer({ service, config: { uploadConcurrency: 1, uploadQueue: 1 } });
  });
  after(async () => {
    await t.server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('beyond the queue: 429 with Retry-After; the others are transcribed', async () => {
    const wav = writeWav(concat(silence(0.3), clipSamples(speech), silence(8)), 16000);
    const results = await Promise.all(Array.from({ length: 4 }, () => upload(t, wav, 'a.wav')));
    const ok = results.filter((r) => r.status === 200);
    const busy = results.filter((r) => r.status === 429);
    // Turns are taken as the requests arrive, before any body is read: one runs, one waits, two are refused.
    assert.deepEqual([ok.length, busy.length], [2, 2], JSON.stringify(results.map((r) => r.status)));
    for (const r of busy) {
      assert.equal(r.retryAfter, '5');
      assert.equal(r.body.error?.code, 'TOO_MANY_UPLOADS');
    }
    for (const r of ok) assert.ok(werOf([r.body.text ?? ''], [speech]) <= 0.1, r.body.text);
  });

  test('WAV headers declaring 8 MHz or 1 Hz → 400 UNSUPPORTED_SAMPLE_RATE', async () => {
    for (const rate of [8_000_009, 1]) {
      const wav = writeWav(new Float32Array(rate === 1 ? 10000 : 8), 16000);
      wav.writeUInt32LE(rate, 24);
      const r = await upload(t, wav, 'bomb.wav');
      assert.equal(r.status, 400);
      assert.equal(r.body.error?.code, 'UNSUPPORTED_SAMPLE_RATE');
    }
    await normalClientTranscribes(t);
  });

  test('a file over 3 hours is refused with 413 from its duration', { skip: skipWithout('ffmpeg') }, async () => {
    const flac = path.join(dir, 'long.flac');
    const made = spawnSync(requireTool('ffmpeg'), ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '11000', flac]);
    assert.equal(made.status, 0, String(made.stderr));
    const r = await upload(t, fs.readFileSync(flac), 'long.flac');
    assert.equal(r.status, 413);
    assert.equal(r.body.error?.code, 'AUDIO_TOO_LONG');
    assert.match(r.body.error?.message ?? '', /over the limit of 3:00:00/);
  });

  test('without ffmpeg on PATH a WAV is still transcribed and an MP3 gets 415', async () => {
    const saved = process.env.PATH;
    process.env.PATH = dir;
    try {
      const wav = writeWav(concat(silence(0.3), clipSamples(speech), silence(1)), 16000);
      const r = await upload(t, wav, 'a.wav');
      assert.equal(r.status, 200);
      assert.ok(werOf([r.body.text ?? ''], [speech]) <= 0.1, r.body.text);
      const mp3 = await upload(t, Buffer.from('ID3 not really an mp3'), 'a.mp3');
      assert.equal(mp3.status, 415);
      assert.equal(mp3.body.error?.code, 'FFMPEG_MISSING');
    } finally {
      process.env.PATH = saved;
    }
  });
});
