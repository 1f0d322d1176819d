// The web client's SttSocket against a scripted WebSocket server: messages, reconnect with backoff, heartbeat.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SttSocket, type ConnectionState } from '../../web/src/net/stt-socket.ts';
import { FakeSttServer, sleep, wsFactory } from './fake-stt-server.ts';

const FAST = { initialDelayMs: 50, maxDelayMs: 400 };

function socketFor(server: FakeSttServer, extra: Partial<ConstructorParameters<typeof SttSocket>[0]> = {}): SttSocket {
  return new SttSocket({ url: server.url, createSocket: wsFactory, reconnect: FAST, random: () => 0.5, ...extra });
}

async function until(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('sends JSON and binary frames and dispatches typed server messages', async (t) => {
  const server = await new FakeSttServer().start();
  const socket = socketFor(server);
  t.after(async () => {
    socket.close();
    await server.stop();
  });
  const finals: string[] = [];
  const all: string[] = [];
  socket.on('stt_final', (m) => finals.push(m.text));
  socket.onMessage((m) => all.push(m.type));
  assert.equal(socket.send({ type: 'ping' }), false, 'nothing is sent before the connection opens');
  socket.connect();
  await until(() => socket.connected, 'connected');
  assert.ok(socket.send({ type: 'stt_start', session_id: 's1', sample_rate: 48000 }));
  assert.ok(socket.sendAudio(new Int16Array([1, -2, 3]).buffer));
  await server.until(() => server.received.length >= 2, 3000, 'two frames');
  assert.deepEqual(server.json('stt_start'), [{ type: 'stt_start', session_id: 's1', sample_rate: 48000 }]);
  assert.equal(server.binaryBytes(), 6);

  server.send({ type: 'stt_final', text: 'hello world', session_id: 's1' });
  server.send({ type: 'not_a_message_we_know' });
  server.send({ type: 'stt_state', state: 'listening' });
  await until(() => all.length >= 2, 'messages');
  assert.deepEqual(finals, ['hello world']);
  assert.deepEqual(all, ['stt_final', 'stt_state']);
});

test('a listener that throws does not stop the others', async (t) => {
  const server = await new FakeSttServer().start();
  const socket = socketFor(server);
  t.after(async () => {
    socket.close();
    await server.stop();
  });
  const seen: string[] = [];
  const original = console.error;
  console.error = () => {};
  t.after(() => {
    console.error = original;
  });
  socket.on('pong', () => {
    throw new Error('boom');
  });
  socket.on('pong', () => seen.push('second'));
  socket.connect();
  await until(() => socket.connected, 'connected');
  server.send({ type: 'pong' });
  await until(() => seen.length === 1, 'second listener');
});

test('reconnects with backoff when the server goes away and comes back on the same port', async (t) => {
  const server = await new FakeSttServer().start();
  const port = server.port;
  const socket = socketFor(server);
  let restarted: FakeSttServer | null = null;
  t.after(async () => {
    socket.close();
    await server.stop();
    await restarted?.stop();
  });
  const states: ConnectionState[] = [];
  const opens: boolean[] = [];
  socket.onConnectionChange((s) => {
    if (states.at(-1) !== s) states.push(s);
  });
  socket.onOpen((reconnected) => opens.push(reconnected));
  socket.connect();
  await until(() => socket.connected, 'first connection');

  await server.stop();
  await until(() => socket.state === 'reconnecting', 'reconnecting');
  assert.equal(socket.sendAudio(new ArrayBuffer(4)), false, 'audio is dropped while disconnected');
  assert.equal(socket.framesDropped, 1);
  await sleep(300); // a few failed attempts against the closed port

  restarted = await new FakeSttServer().start(port);
  await until(() => socket.connected, 'reconnected', 3000);
  assert.deepEqual(opens, [false, true]);
  assert.deepEqual(states, ['connected', 'reconnecting', 'connected']);
  assert.ok(socket.send({ type: 'ping' }));
  await restarted.until(() => restarted!.json('ping').length === 1, 3000, 'ping after reconnect');
});

test('close() stops reconnecting for good', async (t) => {
  const server = await new FakeSttServer().start();
  const socket = socketFor(server);
  t.after(() => server.stop());
  socket.connect();
  await until(() => socket.connected, 'connected');
  socket.close();
  assert.equal(socket.state, 'closed');
  await sleep(200);
  assert.equal(socket.state, 'closed');
  assert.equal(server.connectionCount, 0);
});

test('the heartbeat pings, and a connection that stays silent is dropped and reopened', async (t) => {
  const server = await new FakeSttServer().start();
  const heartbeat = { pingIntervalMs: 30, deadAfterMs: 150 };
  const socket = socketFor(server, heartbeat);
  t.after(async () => {
    socket.close();
    await server.stop();
  });
  let opens = 0;
  socket.onOpen(() => opens++);
  socket.connect();
  await server.until(() => server.json('ping').length >= 3, 3000, 'pings');
  await sleep(200);
  assert.equal(opens, 1, 'answered pings keep the connection');

  server.answerPings = false;
  await until(() => opens >= 2, 'reopened after silence', 3000);
  assert.ok(socket.connected || socket.state === 'reconnecting');
});

test('closed by the server as unused (4408): no reconnect until wake(), then a new connection', async (t) => {
  const server = await new FakeSttServer().start();
  const socket = socketFor(server);
  t.after(async () => {
    socket.close();
    await server.stop();
  });
  const states: ConnectionState[] = [];
  socket.onConnectionChange((s) => states.push(s));
  socket.connect();
  await until(() => socket.connected, 'connected');
  server.closeAll(4408, 'no stt_start in time');
  await until(() => socket.state === 'idle', 'idle');
  await sleep(300); // several backoff delays: nothing is retried
  assert.equal(server.connectionCount, 0);
  assert.equal(socket.send({ type: 'ping' }), false);
  socket.wake();
  await until(() => socket.connected, 'connected again');
  assert.deepEqual(states, ['connected', 'idle', 'reconnecting', 'connected']);
});
