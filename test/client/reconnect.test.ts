// The Earshot client against a scripted WebSocket server: messages, reconnect with backoff, resend of the audio no
// final has covered, heartbeat.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { backoffDelay, EarshotClient, type ClientOptions, type ConnectionState } from '../../src/client/earshot-client.ts';
import { FakeSttServer, sleep } from '../web/fake-stt-server.ts';

const FAST = { initialDelayMs: 50, maxDelayMs: 400 };

function clientFor(server: FakeSttServer, extra: Partial<ClientOptions> = {}): EarshotClient {
  return new EarshotClient({ url: server.url, reconnect: FAST, random: () => 0.5, ...extra });
}

/** A scripted server and a client on it; restart() brings a new server up on the same port. Both are cleaned up. */
async function restartable(t: TestContext) {
  const server = await new FakeSttServer().start();
  const client = clientFor(server);
  let restarted: FakeSttServer | null = null;
  t.after(async () => {
    await client.close();
    await server.stop();
    await restarted?.stop();
  });
  return { server, client, restart: async () => (restarted = await new FakeSttServer().start(server.port)) };
}

/** Waits for `check`; the ceiling is for a hang, not a latency bound. */
async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** `n` bytes of PCM16 whose samples all hold `value` (to tell frames apart on the server). */
function frame(samples: number, value: number): Int16Array {
  return new Int16Array(samples).fill(value);
}

test('backoff doubles from the initial delay and is capped', () => {
  const config = { initialDelayMs: 250, maxDelayMs: 5000 };
  const mid = () => 0.5;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 10].map((a) => backoffDelay(a, config, mid)), [250, 500, 1000, 2000, 4000, 5000, 5000]);
  assert.equal(backoffDelay(0, config, () => 0), 200);
  assert.equal(backoffDelay(0, config, () => 0.999), 300);
});

test('sends JSON and binary frames and dispatches typed server messages', async (t) => {
  const server = await new FakeSttServer().start();
  const client = clientFor(server);
  t.after(async () => {
    await client.close();
    await server.stop();
  });
  const finals: string[] = [];
  const all: string[] = [];
  client.on('final', (m) => finals.push(m.text));
  client.on('message', (m) => all.push(m.type));
  assert.equal(client.sendJson({ type: 'ping' }), false, 'nothing is sent before the connection opens');
  await client.connect();
  assert.ok(client.sendJson({ type: 'stt_start', session_id: 's1', sample_rate: 48000 }));
  assert.ok(client.sendAudio(new Int16Array([1, -2, 3]).buffer));
  await server.until(() => server.received.length >= 2, 60_000, 'two frames');
  assert.deepEqual(server.json('stt_start'), [{ type: 'stt_start', session_id: 's1', sample_rate: 48000 }]);
  assert.equal(server.binaryBytes(), 6);

  server.send({ type: 'stt_final', text: 'hello world', session_id: 's1' });
  server.send({ type: 'not_a_message_we_know' });
  server.send({ type: 'stt_state', state: 'listening' });
  await until(() => all.length >= 2, 'messages');
  assert.deepEqual(finals, ['hello world']);
  assert.deepEqual(all, ['stt_final', 'stt_state']);
});

test('the async iterator yields messages in order and ends on close', async () => {
  const server = await new FakeSttServer().start();
  const client = await EarshotClient.connect(server.url);
  const iterator = client.messages();
  server.send({ type: 'stt_update', text: 'a', session_id: 'x' });
  server.send({ type: 'stt_final', text: 'b', session_id: 'x' });
  const seen: string[] = [];
  for await (const m of iterator) {
    seen.push(m.type);
    if (seen.length === 2) void server.stop();
  }
  assert.deepEqual(seen, ['stt_update', 'stt_final']);
  assert.equal(client.state, 'closed', 'without reconnect a lost connection closes the client');
});

test('a listener that throws does not stop the others', async (t) => {
  const server = await new FakeSttServer().start();
  const client = clientFor(server);
  t.after(async () => {
    await client.close();
    await server.stop();
  });
  const seen: string[] = [];
  const original = console.error;
  console.error = () => {};
  t.after(() => {
    console.error = original;
  });
  client.on('pong', () => {
    throw new Error('boom');
  });
  client.on('pong', () => seen.push('second'));
  await client.connect();
  server.send({ type: 'pong' });
  await until(() => seen.length === 1, 'second listener');
});

test('reconnects with backoff when the server goes away and comes back on the same port', async (t) => {
  const { server, client, restart } = await restartable(t);
  const states: ConnectionState[] = [];
  const opens: boolean[] = [];
  client.on('connection', (c) => {
    if (states.at(-1) !== c.state) states.push(c.state);
  });
  client.on('open', (o) => opens.push(o.reconnected));
  await client.connect();

  await server.stop();
  await until(() => client.state === 'reconnecting', 'reconnecting');
  assert.equal(client.sendAudio(new ArrayBuffer(4)), false, 'audio outside a session is dropped while disconnected');
  assert.equal(client.framesDropped, 1);
  await sleep(300); // a few failed attempts against the closed port

  const restarted = await restart();
  await until(() => client.connected, 'reconnected');
  assert.deepEqual(opens, [false, true]);
  assert.deepEqual(states, ['connected', 'reconnecting', 'connected']);
  assert.ok(client.sendJson({ type: 'ping' }));
  await restarted.until(() => restarted.json('ping').length === 1, 60_000, 'ping after reconnect');
});

test('after a reconnect the session resumes: stt_start again, the audio no final covered, then a pending stop', async (t) => {
  const { server, client, restart } = await restartable(t);
  await client.connect();
  const started = client.start('s1', { sampleRate: 1000 });
  await server.until(() => server.json('stt_start').length === 1, 60_000, 'stt_start');
  server.send({ type: 'stt_listening', session_id: 's1', sample_rate: 1000 });
  assert.equal(await started, 's1');
  for (let i = 1; i <= 4; i++) client.sendAudio(frame(500, i)); // four half-second frames at 1 kHz
  await server.until(() => server.binaryBytes() === 4000, 60_000, 'frames');
  // The first utterance ended 1.2 s in: that much is answered, 0.8 s is kept.
  const finals: Array<[string, number | undefined]> = [];
  client.on('final', (f) => finals.push([f.text, f.streamEnd]));
  server.send({ type: 'stt_final', text: 'one', session_id: 's1', utterance: 1, start: 0.1, end: 1.2 });
  await until(() => Math.abs(client.unconfirmedSeconds - 0.8) < 1e-9, '1.2 s answered');

  await server.stop();
  await until(() => client.state === 'reconnecting', 'reconnecting');
  assert.equal(client.sendAudio(frame(500, 5)), true, 'kept for the resend');
  const stopped = client.stop(5000);

  const restarted = await restart();
  await restarted.until(() => restarted.json('stt_stop').length === 1, 60_000, 'stt_stop after the resend');
  const wire = restarted.received.map((r) => (r.kind === 'json' ? String(r.value.type) : `frame${r.bytes.readInt16LE(0)}:${r.bytes.length}`));
  assert.deepEqual(wire, ['stt_start', 'frame3:600', 'frame4:1000', 'frame5:1000', 'stt_stop']);
  assert.deepEqual(restarted.json('stt_start')[0], { type: 'stt_start', session_id: 's1', sample_rate: 1000 });
  const reconnected = client.next('reconnect');
  restarted.send({ type: 'stt_listening', session_id: 's1', sample_rate: 1000 });
  const r = await reconnected;
  assert.equal(r.resentSeconds, 1.3);
  // The resent audio starts the server's new cycle: its `end` counts from 1.2 s on the client's stream.
  restarted.send({ type: 'stt_final', text: 'two', session_id: 's1', utterance: 1, start: 0.2, end: 0.9 });
  restarted.send({ type: 'stt_final', text: 'two again', session_id: 's1', utterance: 1, start: 0.2, end: 0.9 });
  await until(() => client.duplicates === 1, 'the repeated final recognized');
  assert.ok(Math.abs(client.unconfirmedSeconds - 0.4) < 1e-9);
  restarted.send({ type: 'stt_state', state: 'idle', session_id: 's1' });
  await stopped;
  assert.deepEqual(finals, [['one', 1.2], ['two', 2.1]], 'each final once, placed on the client stream');
  assert.equal(client.unconfirmedSeconds, 0, 'nothing kept after the session');
});

test('a session started while the server is away waits for it, even past start()\'s timeout', async (t) => {
  const { server, client, restart } = await restartable(t);
  await client.connect();
  await server.stop();
  await until(() => client.state === 'reconnecting', 'reconnecting');
  await assert.rejects(client.start('s2', { timeoutMs: 50 }), (e: Error & { code?: string }) => e.code === 'TIMEOUT');
  assert.equal(client.sendAudio(frame(100, 7)), true, 'kept');
  const restarted = await restart();
  await restarted.until(() => restarted.binaryBytes() === 200, 60_000, 'stt_start and the frame');
  assert.deepEqual(restarted.json('stt_start'), [{ type: 'stt_start', session_id: 's2' }]);
});

test('close() stops reconnecting for good', async (t) => {
  const server = await new FakeSttServer().start();
  const client = clientFor(server);
  t.after(() => server.stop());
  await client.connect();
  await client.close();
  assert.equal(client.state, 'closed');
  await sleep(200);
  assert.equal(client.state, 'closed');
  assert.equal(server.connectionCount, 0);
});

test('the heartbeat pings, and a connection that stays silent is dropped and reopened', async (t) => {
  const server = await new FakeSttServer().start();
  // Pings every 100 ms, dead after 2 s unheard: a pong late by a busy machine's stall is still in time.
  const client = clientFor(server, { pingIntervalMs: 100, deadAfterMs: 2000 });
  t.after(async () => {
    await client.close();
    await server.stop();
  });
  let opens = 0;
  client.on('open', () => opens++);
  await client.connect();
  const connectedAt = Date.now();
  // Answered for longer than deadAfterMs: the answers are what kept it.
  await server.until(() => server.json('ping').length >= 3 && Date.now() - connectedAt > 3000, 60_000, 'pings for 3 s');
  assert.equal(opens, 1, 'answered pings keep the connection');

  server.answerPings = false;
  await until(() => opens >= 2, 'reopened after silence');
  assert.ok(client.connected || client.state === 'reconnecting');
});

test('closed by the server as unused (4408): no reconnect until start() or wake(), then a new connection', async (t) => {
  const server = await new FakeSttServer().start();
  const client = clientFor(server);
  t.after(async () => {
    await client.close();
    await server.stop();
  });
  const states: ConnectionState[] = [];
  client.on('connection', (c) => states.push(c.state));
  await client.connect();
  server.closeAll(4408, 'no stt_start in time');
  await until(() => client.state === 'idle', 'idle');
  await sleep(300); // several backoff delays: nothing is retried
  assert.equal(server.connectionCount, 0);
  assert.equal(client.sendJson({ type: 'ping' }), false);
  client.wake();
  await until(() => client.connected, 'connected again');
  server.closeAll(4408, 'no stt_start in time');
  await until(() => client.state === 'idle', 'idle again');
  void client.start('after-idle').catch(() => {});
  await server.until(() => server.json('stt_start').length === 1, 60_000, 'stt_start on a new connection');
  assert.deepEqual(states.slice(0, 4), ['connected', 'idle', 'reconnecting', 'connected']);

  // Without reconnect, 4408 closes the client as any close would.
  const once = await EarshotClient.connect(server.url);
  server.closeAll(4408, 'no stt_start in time');
  assert.equal((await once.closed()).code, 4408);
});
