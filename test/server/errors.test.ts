import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { ProcessingTimeoutError, type SessionTranscriber } from '../../src/asr/scheduler.ts';
import { EarshotClient, EarshotError, toPcm16 } from '../../src/client/earshot-client.ts';
import { Recorder } from '../../src/recorder/recorder.ts';
import type { TranscriptionService } from '../../src/pipeline/transcription-service.ts';
import { silentLogger } from '../../src/server/logger.ts';
import { metricTotal, ServerMetrics } from '../../src/server/metrics.ts';
import { MAX_AUDIO_FRAME_BYTES, type ServerMessage } from '../../src/protocol/seed-messages.ts';
import { SeedWebSocketSession } from '../../src/server/protocols/seed-websocket.ts';
import type { WebSocketLike } from '../../src/server/protocols/websocket-adapter.ts';
import type { SessionHost } from '../../src/server/transcription-session.ts';
import { VoiceActivityDetector } from '../../src/vad/voice-activity-detector.ts';
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
} from './helpers.ts';

type ErrorMsg = Extract<ServerMessage, { type: 'stt_error' }>;

const CLIP = clip('sense_and_sensibility_01_austen_64kb-0930.wav');
const SPEECH = concat(silence(0.3), clipSamples(CLIP), silence(0.3));

async function nextError(client: EarshotClient, code?: string): Promise<ErrorMsg> {
  return client.next('error', (m) => code === undefined || m.code === code, 60_000);
}

/** Asserts the connection still transcribes correctly. */
async function assertTranscribes(client: EarshotClient, sessionId = 'after-errors'): Promise<void> {
  const { log } = await transcribeOver(client, SPEECH, { sessionId });
  const f = finals(log);
  assert.equal(f.length, 1, JSON.stringify(log));
  assert.equal(f[0]!.session_id, sessionId);
  assert.ok(werOf([f[0]!.text], [CLIP]) <= 0.05, f[0]!.text);
}

describe('errors, limits and security', () => {
  let t: TestServer;
  let service: TranscriptionService;

  before(async () => {
    service = await sharedService();
    t = await startServer({ service });
  });

  after(async () => {
    await t.server.close();
    await disposeSharedService();
  });

  test('every bad input gets its code and the same connection then transcribes a clip', async () => {
    const client = await EarshotClient.connect(t.ws);
    const errors: ErrorMsg[] = [];
    client.on('error', (m) => errors.push(m));

    client.sendText('{not json');
    assert.equal((await nextError(client)).code, 'BAD_MESSAGE');
    client.sendText('[1,2,3]');
    assert.equal((await nextError(client)).code, 'BAD_MESSAGE');
    client.sendText('null');
    assert.equal((await nextError(client)).code, 'BAD_MESSAGE');
    client.sendJson({ session_id: 'x' });
    const missing = await nextError(client);
    assert.deepEqual([missing.code, missing.session_id], ['UNKNOWN_TYPE', 'x']);
    client.sendJson({ type: 'stt_dance', session_id: 'x' });
    assert.equal((await nextError(client)).code, 'UNKNOWN_TYPE');
    client.sendJson({ type: 42 });
    assert.equal((await nextError(client)).code, 'UNKNOWN_TYPE');
    client.sendText(JSON.stringify({ type: 'prompt', text: 'x'.repeat(100 * 1024) }));
    assert.equal((await nextError(client)).code, 'BAD_MESSAGE', 'text message over 64 KiB');

    // Audio before stt_start: one NOT_LISTENING per burst of frames, not one per frame.
    for (let i = 0; i < 5; i++) client.sendAudio(new Uint8Array(3200));
    await client.ping();
    assert.equal(errors.filter((e) => e.code === 'NOT_LISTENING').length, 1);
    for (let i = 0; i < 5; i++) client.sendAudio(new Uint8Array(3200));
    await client.ping();
    assert.equal(errors.filter((e) => e.code === 'NOT_LISTENING').length, 2, 'a text message starts a new burst');

    client.sendAudio(new Uint8Array(MAX_AUDIO_FRAME_BYTES + 1000));
    assert.equal((await nextError(client)).code, 'AUDIO_FRAME_TOO_LARGE');

    for (const rate of ['fast', 7999, 16000.5, 200000, -1, true]) {
      client.sendJson({ type: 'stt_start', session_id: 'bad-rate', sample_rate: rate });
      const e = await nextError(client);
      assert.deepEqual([e.code, e.session_id], ['BAD_MESSAGE', 'bad-rate'], `sample_rate ${JSON.stringify(rate)}`);
    }
    client.sendJson({ type: 'stt_start', session_id: 'y'.repeat(1000) });
    assert.equal((await nextError(client)).code, 'BAD_MESSAGE');
    client.sendJson({ type: 'stt_start', session_id: { nested: true } });
    assert.equal((await nextError(client)).code, 'BAD_MESSAGE');

    // stt_stop while idle is answered with the state, so a client waiting for idle is never stuck.
    await client.stop(5000);
    // A valid prompt is accepted without a reply.
    client.sendJson({ type: 'prompt', text: 'what did I say?' });
    await client.ping();
    const count = errors.length;

    await assertTranscribes(client);
    assert.equal(errors.length, count, `no further errors: ${JSON.stringify(errors.slice(count))}`);
    // Inside a session, a too-large frame is dropped and the session goes on.
    await client.start('big-frame');
    client.sendAudio(new Uint8Array(MAX_AUDIO_FRAME_BYTES + 2));
    const big = await nextError(client, 'AUDIO_FRAME_TOO_LARGE');
    assert.equal(big.session_id, 'big-frame');
    await client.streamPcm(SPEECH, { realtime: false });
    const final = client.next('final');
    await client.stop();
    assert.ok(werOf([(await final).text], [CLIP]) <= 0.05);
    await client.close();
  });

  test('a frame far over the limit closes that connection with 1009; the server goes on', async () => {
    const client = await EarshotClient.connect(t.ws);
    client.sendAudio(new Uint8Array(3 * MAX_AUDIO_FRAME_BYTES));
    const { code } = await client.closed();
    assert.equal(code, 1009);
    const other = await EarshotClient.connect(t.ws);
    await other.ping();
    await other.close();
  });

  test('garbage never takes the process down: invalid UTF-8, random frames, raw TCP noise', async () => {
    const client = await EarshotClient.connect(t.ws);
    (client.socket as unknown as WebSocket).send(Buffer.from([0xff, 0xfe, 0xc3, 0x28]), { binary: false }); // invalid UTF-8 text frame
    assert.equal((await client.closed()).code, 1007);

    const fuzz = await EarshotClient.connect(t.ws);
    let seed = 7;
    const rand = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    for (let i = 0; i < 200; i++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256)));
      if (rand() < 0.5) fuzz.sendAudio(bytes);
      else fuzz.sendText(bytes.toString('latin1'));
      if (i === 100) fuzz.sendJson({ type: 'stt_start', session_id: 'fuzz' });
    }
    await fuzz.ping();
    await fuzz.close();

    await new Promise<void>((resolve) => {
      const socket = net.connect(Number(new URL(t.http).port), '127.0.0.1', () => {
        socket.write('GET /ws/stream HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: bad\r\n\r\n\x00\xff garbage');
        socket.write(Buffer.alloc(1000, 0x81));
        setTimeout(() => socket.destroy(), 100);
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve());
    });
    assert.equal((await fetch(`${t.http}/health`)).status, 200);
    await waitFor(async () => (await metricValue(t.http, 'earshot_sessions')) === 0, 60_000, 'sessions freed');
    const again = await EarshotClient.connect(t.ws);
    await assertTranscribes(again, 'after-garbage');
    await again.close();
  });

  test('a disconnect mid-utterance frees the session', async () => {
    const sessions = (await metricValue(t.http, 'earshot_sessions'))!;
    const client = await EarshotClient.connect(t.ws);
    await client.start('leaver');
    const speech = clipSamples(clip('sense_and_sensibility_01_austen_64kb-0870.wav'));
    await client.streamPcm(concat(silence(0.3), speech.subarray(0, speech.length / 2)), { realtime: false });
    await client.next('recordingStart');
    assert.equal(await metricValue(t.http, 'earshot_sessions'), sessions + 1);
    client.terminate();
    await waitFor(async () => (await metricValue(t.http, 'earshot_sessions')) === 0, 60_000, 'sessions gauge back to 0');
    await waitFor(async () => (await metricValue(t.http, 'earshot_connections')) === 0, 60_000, 'connections gauge back to 0');
  });

  test('stt_start at the maximum number of sessions → OVERLOADED; the slot frees on stop', async () => {
    const small = await startServer({ service, config: { maxSessions: 1 } });
    try {
      const a = await EarshotClient.connect(small.ws);
      const b = await EarshotClient.connect(small.ws);
      await a.start('a');
      await assert.rejects(b.start('b'), (e: EarshotError) => e.code === 'OVERLOADED');
      await a.stop();
      await assertTranscribes(b, 'b');
      await Promise.all([a.close(), b.close()]);
    } finally {
      await small.server.close();
    }
  });

  test('a handshake at the maximum number of sessions → 503 (a balancer tries another instance); /ready says full', async () => {
    const small = await startServer({ service, config: { maxSessions: 1 } });
    try {
      const a = await EarshotClient.connect(small.ws);
      await a.start('a');
      await assert.rejects(EarshotClient.connect(small.ws), (e: { status?: number }) => e.status === 503);
      const ready = await fetch(`${small.http}/ready`);
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as { status: string }).status, 'full');
      assert.equal(await metricValue(small.http, 'earshot_max_sessions'), 1);
      await a.stop();
      assert.equal((await fetch(`${small.http}/ready`)).status, 200);
      await assertTranscribes(await EarshotClient.connect(small.ws), 'b');
      await a.close();
    } finally {
      await small.server.close();
    }
  });

  test('models that failed to load → MODEL_LOAD_ERROR; /ready says 503', async () => {
    const broken = await startServer({ service: Promise.reject(new Error('decoder file is corrupt')) });
    try {
      const client = await EarshotClient.connect(broken.ws);
      await assert.rejects(client.start('m'), (e: EarshotError) => e.code === 'MODEL_LOAD_ERROR' && /corrupt/.test(e.message));
      await client.stop(5000);
      await client.ping();
      await client.close();
      const ready = await fetch(`${broken.http}/ready`);
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as { status: string }).status, 'failed');
      assert.equal(await metricValue(broken.http, 'earshot_sessions'), 0);
    } finally {
      await broken.server.close();
    }
  });

  test('recorder errors are forwarded: PROCESSING_TIMEOUT and TRANSCRIPTION_FAILED, with the utterance', async () => {
    for (const [code, failure] of [
      ['PROCESSING_TIMEOUT', () => new ProcessingTimeoutError(30000)],
      ['TRANSCRIPTION_FAILED', () => new Error('onnxruntime exploded')],
    ] as const) {
      const failing: SessionTranscriber = {
        maxAudioSeconds: service.finalEngine.maxAudioSeconds,
        final: () => Promise.reject(failure()),
        partial: async () => null,
        cancel() {},
      };
      const fake = {
        finalEngine: service.finalEngine,
        partialEngine: service.partialEngine,
        scheduler: service.scheduler,
        createRecorder: async () => new Recorder(await VoiceActivityDetector.create(service.silero), () => failing),
      } as unknown as TranscriptionService;
      const s = await startServer({ service: fake });
      try {
        const client = await EarshotClient.connect(s.ws);
        const log = record(client);
        await client.start('failing');
        await client.streamPcm(SPEECH, { realtime: false });
        await client.stop();
        const e = log.find((m): m is ErrorMsg => m.type === 'stt_error');
        assert.ok(e, JSON.stringify(log));
        assert.equal(e.code, code);
        assert.equal(e.utterance, 1);
        assert.equal(e.session_id, 'failing');
        await client.ping();
        await client.close();
      } finally {
        await s.server.close();
      }
    }
  });

  test('dead peers (no pong) are dropped; live ones stay', async () => {
    // A period long enough that the live peer's pong (same event loop as the server) is never late on a busy machine.
    const s = await startServer({ service, config: { heartbeatMs: 2000 } });
    try {
      const live = new WebSocket(s.ws);
      let pings = 0;
      live.on('ping', () => pings++);
      const dead = new WebSocket(s.ws, { autoPong: false });
      await Promise.all([live, dead].map((ws) => new Promise((r) => ws.once('open', r))));
      const closed = new Promise<number>((r) => dead.once('close', (code) => r(code)));
      assert.equal(await closed, 1006, 'terminated without a close frame');
      // Three pings answered: the live peer has outlived two checks, the one that dropped the dead peer among them.
      await waitFor(() => pings >= 3 || live.readyState !== WebSocket.OPEN, 60_000, 'three pings to the live peer');
      assert.equal(live.readyState, WebSocket.OPEN);
      live.close();
    } finally {
      await s.server.close();
    }
  });

  test('token: refused on upgrade (401) without or with a wrong one; ?token= and Bearer work; API routes too', async () => {
    const token = 'test-token-4711';
    const s = await startServer({ service, config: { token } });
    try {
      await assert.rejects(EarshotClient.connect(s.ws), (e: { status?: number }) => e.status === 401);
      await assert.rejects(EarshotClient.connect(s.ws, { token: 'wrong-token-0000' }), (e: { status?: number }) => e.status === 401);
      await assert.rejects(EarshotClient.connect(`${s.ws}?token=wrong`), (e: { status?: number }) => e.status === 401);
      const viaQuery = await EarshotClient.connect(`${s.ws}?token=${token}`);
      await viaQuery.ping();
      await viaQuery.close();
      const viaHeader = await EarshotClient.connect(s.ws, { token });
      await viaHeader.ping();
      await viaHeader.close();
      assert.equal((await fetch(`${s.http}/metrics`)).status, 401);
      assert.equal((await fetch(`${s.http}/metrics`, { headers: { Authorization: `Bearer ${token}` } })).status, 200);
      assert.equal((await fetch(`${s.http}/v1/audio/transcriptions`, { method: 'POST' })).status, 401);
      assert.equal((await fetch(`${s.http}/health`)).status, 200);
      assert.equal((await fetch(`${s.http}/ready`)).status, 200);
    } finally {
      await s.server.close();
    }
  });

  test('origin: foreign origins are refused on upgrade (403); localhost, same origin, allowed list and no Origin pass', async () => {
    const s = await startServer({ service, config: { allowedOrigins: ['https://app.example.com'] } });
    try {
      for (const origin of ['http://evil.example', 'null', 'https://app.example.com.evil.example', 'file://']) {
        await assert.rejects(EarshotClient.connect(s.ws, { origin }), (e: { status?: number }) => e.status === 403, origin);
      }
      for (const origin of [undefined, 'http://localhost:5173', 'http://127.0.0.1:9999', s.http, 'https://app.example.com']) {
        const c = await EarshotClient.connect(s.ws, { origin });
        await c.ping();
        await c.close();
      }
      const foreignPost = await fetch(`${s.http}/v1/audio/transcriptions`, { method: 'POST', headers: { Origin: 'http://evil.example' } });
      assert.equal(foreignPost.status, 403);
    } finally {
      await s.server.close();
    }
  });
});

describe('send buffer limits (slow reader)', () => {
  class FakeSocket implements WebSocketLike {
    readyState = 1;
    bufferedAmount = 0;
    sent: ServerMessage[] = [];
    closedWith?: number;
    send(data: string): void {
      this.sent.push(JSON.parse(data) as ServerMessage);
    }
    close(code?: number): void {
      this.closedWith = code;
      this.readyState = 2;
    }
    terminate(): void {
      this.readyState = 3;
    }
  }

  test('partials are dropped above the soft limit, the client is closed with 1008 above the hard limit', async () => {
    const recorder = Object.assign(new EventEmitter(), {
      start() {},
      feedAudio() {
        return true;
      },
      async stop() {},
      shutdown() {},
      abort() {},
    });
    const metrics = new ServerMetrics({ sessions: () => 0, connections: () => 0, queueDepth: () => 0, schedulerStats: () => undefined });
    const host: SessionHost = {
      service: async () => ({ createRecorder: async () => recorder }) as unknown as TranscriptionService,
      acquireSlot: () => undefined,
      releaseSlot() {},
      startTimeoutMs: 60000,
      audioIdleTimeoutMs: 60000,
      shuttingDown: false,
      metrics,
      log: silentLogger,
      sendSoftLimitBytes: 1000,
      sendHardLimitBytes: 5000,
    };
    const socket = new FakeSocket();
    const session = new SeedWebSocketSession(socket, host);
    session.handleMessage(Buffer.from(JSON.stringify({ type: 'stt_start', session_id: 's' })), false);
    await session.idle();
    assert.equal(socket.sent[0]!.type, 'stt_listening');

    const final = { text: 'done', utterance: 1, start: 0, end: 1, processingMs: 5, latencyMs: 1, speculative: true };
    recorder.emit('realtimeUpdate', 'hello');
    socket.bufferedAmount = 2000;
    recorder.emit('realtimeUpdate', 'hello wor');
    recorder.emit('realtimeStabilized', 'hello');
    recorder.emit('transcriptionFinished', final);
    assert.deepEqual(socket.sent.slice(1).map((m) => m.type), ['stt_update', 'stt_final'], 'partials dropped, final kept');
    assert.equal(await metricTotal(metrics.droppedMessages), 2);

    socket.bufferedAmount = 6000;
    recorder.emit('transcriptionFinished', final);
    assert.equal(socket.closedWith, 1008);
    assert.equal(socket.sent.length, 3, 'nothing more is queued for a client that does not read');
    session.handleClose();
  });
});
