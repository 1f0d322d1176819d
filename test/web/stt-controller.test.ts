// The web client's dictation controller with a fake microphone and a scripted server: the protocol as the
// browser speaks it (stt_start with sample_rate, frames, flush-then-stt_stop), finals, prompts, resume on reconnect.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { STT_CONFIG, type UiConfig } from '../../web/src/config.ts';
import { SttController, type AudioFrame, type AudioSource, type SttControllerEvents } from '../../web/src/stt-controller.ts';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { FakeSttServer, sleep } from './fake-stt-server.ts';

class FakeMic implements AudioSource {
  active = false;
  rate = 48000;
  failWith: { code: string; message: string } | null = null;
  private events: { frame?: (f: AudioFrame) => void; ended?: () => void } = {};

  on(events: { frame?: (f: AudioFrame) => void; ended?: () => void }): void {
    this.events = events;
  }

  async start(): Promise<number> {
    if (this.failWith) throw Object.assign(new Error(this.failWith.message), { code: this.failWith.code });
    this.active = true;
    return this.rate;
  }

  async stop(): Promise<void> {
    this.emit(2); // the flushed partial frame
    this.active = false;
  }

  /** Emits one frame of `samples` int16 samples. */
  emit(samples: number): void {
    this.events.frame?.({ pcm: new Int16Array(samples).fill(100).buffer, rms: 0.1, peak: 0.2 });
  }

  end(): void {
    this.events.ended?.();
  }
}

type Log = Array<[keyof SttControllerEvents, ...unknown[]]>;

async function setup(t: TestContext, ui: Partial<UiConfig> = {}) {
  const server = await new FakeSttServer().start();
  const socket = new EarshotClient({ url: server.url, reconnect: { initialDelayMs: 30, maxDelayMs: 200 }, random: () => 0.5 });
  const mic = new FakeMic();
  const log: Log = [];
  const names: Array<keyof SttControllerEvents> = [
    'micChange', 'stateChange', 'previewOpen', 'previewText', 'previewReset', 'previewClose', 'pendingDone', 'final',
    'error', 'assistantDelta', 'assistantDone',
  ];
  const events: Partial<SttControllerEvents> = {};
  for (const name of names) (events as Record<string, unknown>)[name] = (...args: unknown[]) => log.push([name, ...args]);
  const controller = new SttController(socket, mic, { ...STT_CONFIG.ui, ...ui }, events);
  const state = { server };
  t.after(async () => {
    await socket.close();
    await state.server.stop();
  });
  await socket.connect();
  await server.until(() => server.connectionCount === 1, 60_000, 'connection');
  return { server, socket, mic, controller, log, state };
}

function logged(log: Log, name: keyof SttControllerEvents): unknown[][] {
  return log.filter((e) => e[0] === name).map((e) => e.slice(1));
}

/** Waits for `check`; the ceiling is for a hang, not a latency bound. */
async function until(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test('start sends stt_start with the real rate, frames follow; stop flushes, then sends stt_stop', async (t) => {
  const { server, mic, controller, log } = await setup(t);
  await controller.start();
  assert.ok(controller.micActive);
  const id = controller.currentSessionId;
  assert.ok(id);
  mic.emit(1024);
  mic.emit(1024);
  await server.until(() => server.binaryBytes() === 4096, 60_000, 'two frames');
  const start = server.json('stt_start')[0];
  assert.deepEqual(start, { type: 'stt_start', session_id: id, sample_rate: 48000 });

  await controller.stop();
  await server.until(() => server.json('stt_stop').length === 1, 60_000, 'stt_stop');
  // Order on the wire: stt_start, frame, frame, flushed frame, stt_stop.
  const kinds = server.received.map((r) => (r.kind === 'json' ? String(r.value.type) : `bin${r.bytes.length}`));
  assert.deepEqual(kinds, ['stt_start', 'bin2048', 'bin2048', 'bin4', 'stt_stop']);
  assert.deepEqual(server.json('stt_stop')[0], { type: 'stt_stop', session_id: id });
  assert.equal(controller.micActive, false);
  assert.equal(controller.sttState, 'idle');
  assert.deepEqual(logged(log, 'micChange'), [[true], [false]]);
  mic.emit(100);
  await sleep(50);
  assert.equal(server.binaryBytes(), 4100, 'no audio after stop');
});

test('server events drive the state, the preview and the finals; finals are sent as prompts', async (t) => {
  const { server, controller, log } = await setup(t);
  await controller.start();
  const session_id = controller.currentSessionId!;
  server.send({ type: 'stt_listening', session_id });
  server.send({ type: 'stt_state', state: 'listening', session_id });
  server.send({ type: 'stt_recording_start', session_id });
  server.send({ type: 'stt_state', state: 'recording', session_id });
  server.send({ type: 'stt_update', text: 'hello how', session_id });
  server.send({ type: 'stt_stabilized', text: 'hello', session_id });
  server.send({ type: 'stt_update', text: 'hello how are you', session_id });
  server.send({ type: 'stt_recording_stop', session_id });
  server.send({ type: 'stt_state', state: 'transcribing', session_id });
  server.send({ type: 'stt_final', text: ' Hello, how are you? ', session_id, utterance: 1, latency_ms: 300 });
  server.send({ type: 'stt_state', state: 'listening', session_id });
  server.send({ type: 'stt_final', text: 'from someone else', session_id: 'other-session' });
  await server.until(() => server.json('prompt').length === 1, 60_000, 'prompt');
  await until(() => logged(log, 'stateChange').length === 4, 'the last stt_state');
  await sleep(50); // the other session's final, which must change nothing

  assert.deepEqual(logged(log, 'stateChange'), [['listening'], ['recording'], ['transcribing'], ['listening']]);
  assert.deepEqual(logged(log, 'previewText'), [
    [{ stable: '', unstable: 'hello how' }],
    [{ stable: 'hello', unstable: 'how' }],
    [{ stable: 'hello', unstable: 'how are you' }],
  ]);
  assert.deepEqual(logged(log, 'final'), [['Hello, how are you?', { afterStop: false, utterance: 1, latencyMs: 300 }]]);
  // A new preview opens after the final, for the next utterance.
  const names = log.map((e) => e[0]);
  assert.ok(names.lastIndexOf('previewOpen') > names.indexOf('final'));
  assert.deepEqual(server.json('prompt'), [{ type: 'prompt', text: 'Hello, how are you?', session_id }]);
});

test('autoSendOnFinal off: the final is shown but not sent; showStabilizedOnly hides the tail', async (t) => {
  const { server, controller, log } = await setup(t, { autoSendOnFinal: false, showStabilizedOnly: true });
  await controller.start();
  const session_id = controller.currentSessionId!;
  server.send({ type: 'stt_update', text: 'one two three', session_id });
  server.send({ type: 'stt_stabilized', text: 'one two', session_id });
  server.send({ type: 'stt_final', text: 'One two three.', session_id });
  await until(() => logged(log, 'final').length === 1, 'final');
  await sleep(50);
  assert.deepEqual(logged(log, 'previewText'), [[{ stable: '', unstable: '' }], [{ stable: 'one two', unstable: '' }]]);
  assert.equal(server.json('prompt').length, 0);
});

test('showRealtimePreview off: no preview events, finals still arrive', async (t) => {
  const { server, controller, log } = await setup(t, { showRealtimePreview: false });
  await controller.start();
  const session_id = controller.currentSessionId!;
  server.send({ type: 'stt_update', text: 'one two', session_id });
  server.send({ type: 'stt_final', text: 'One two.', session_id });
  await until(() => logged(log, 'final').length === 1, 'final');
  for (const name of ['previewOpen', 'previewText', 'previewReset'] as const) assert.equal(logged(log, name).length, 0, name);
});

test('a discarded utterance resets the preview without a message', async (t) => {
  const { server, controller, log } = await setup(t);
  await controller.start();
  const session_id = controller.currentSessionId!;
  server.send({ type: 'stt_update', text: 'uh', session_id });
  server.send({ type: 'stt_discarded', utterance: 1, reason: 'no_text', session_id });
  await until(() => logged(log, 'previewReset').length === 1, 'reset');
  assert.deepEqual(logged(log, 'previewReset'), [['Listening…']]);
  assert.equal(logged(log, 'final').length, 0);
});

test('stopping mid-utterance keeps the preview pending until the stopped session delivers its final', async (t) => {
  const { server, controller, log } = await setup(t);
  await controller.start();
  const session_id = controller.currentSessionId!;
  server.send({ type: 'stt_update', text: 'almost done', session_id });
  await until(() => logged(log, 'previewText').length === 1, 'preview');
  await controller.stop();
  assert.deepEqual(logged(log, 'previewClose'), [[true]]);
  server.send({ type: 'stt_state', state: 'transcribing', session_id }); // ignored: the mic is off
  server.send({ type: 'stt_final', text: 'Almost done.', session_id });
  server.send({ type: 'stt_state', state: 'idle', session_id });
  await until(() => logged(log, 'pendingDone').length === 1, 'pending done');
  assert.deepEqual(logged(log, 'final'), [['Almost done.', { afterStop: true, utterance: undefined, latencyMs: undefined }]]);
  assert.equal(controller.sttState, 'idle');
  await server.until(() => server.json('prompt').length === 1, 60_000, 'prompt');
});

test('stopping with nothing said removes the preview; an idle state ends the closing session', async (t) => {
  const { server, controller, log } = await setup(t);
  await controller.start();
  const session_id = controller.currentSessionId!;
  await controller.stop();
  assert.deepEqual(logged(log, 'previewClose'), [[false]]);
  server.send({ type: 'stt_state', state: 'idle', session_id });
  server.send({ type: 'stt_final', text: 'late', session_id });
  await sleep(100);
  assert.equal(logged(log, 'final').length, 0, 'a session that went idle delivers nothing more');
});

test('a denied microphone reports MIC_ACCESS_DENIED and sends nothing', async (t) => {
  const { server, mic, controller, log } = await setup(t);
  mic.failWith = { code: 'MIC_ACCESS_DENIED', message: 'Permission denied' };
  await controller.start();
  assert.equal(controller.micActive, false);
  assert.deepEqual(logged(log, 'error'), [['MIC_ACCESS_DENIED', 'Permission denied']]);
  await sleep(50);
  assert.equal(server.json('stt_start').length, 0);
});

test('a stt_notice (INPUT_TOO_QUIET) is ignored: no error, the final after it as usual', async (t) => {
  const { server, controller, log } = await setup(t);
  await controller.start();
  const session_id = controller.currentSessionId!;
  server.send({ type: 'stt_notice', code: 'INPUT_TOO_QUIET', message: 'the input stays too quiet', session_id });
  server.send({ type: 'stt_final', text: 'still here', utterance: 1, start: 0, end: 1, latency_ms: 1, processing_ms: 1, model: 'm', session_id });
  await until(() => logged(log, 'final').length === 1, 'final');
  assert.equal(logged(log, 'final')[0]![0], 'still here');
  assert.equal(logged(log, 'error').length, 0);
});

test('server errors are reported with their code', async (t) => {
  const { server, controller, log } = await setup(t);
  await controller.start();
  server.send({ type: 'stt_error', error: 'Transcription model failed to load', code: 'MODEL_LOAD_ERROR' });
  await until(() => logged(log, 'error').length === 1, 'error');
  assert.deepEqual(logged(log, 'error'), [['MODEL_LOAD_ERROR', 'Transcription model failed to load']]);
});

test('with the mic on, a dropped connection resumes the session (stt_start again, frames kept) once reconnected', async (t) => {
  const { server, mic, controller, log, state } = await setup(t);
  await controller.start();
  const session_id = controller.currentSessionId!;
  server.send({ type: 'stt_state', state: 'recording', session_id });
  server.send({ type: 'stt_update', text: 'lost words', session_id });
  await until(() => controller.sttState === 'recording', 'recording');
  const port = server.port;
  await server.stop();
  await until(() => logged(log, 'previewReset').some((a) => a[0] === 'Reconnecting…'), 'reconnecting preview');
  assert.equal(controller.sttState, 'listening');
  mic.emit(512); // kept by the client until the connection is back

  const restarted = await new FakeSttServer().start(port);
  state.server = restarted;
  await restarted.until(() => restarted.binaryBytes() === 1024, 60_000, 'stt_start and the kept frame after reconnect');
  assert.deepEqual(restarted.json('stt_start')[0], { type: 'stt_start', session_id, sample_rate: 48000 });
  mic.emit(512);
  await restarted.until(() => restarted.binaryBytes() === 2048, 60_000, 'audio after reconnect');
});

test('after a reconnect the audio no final answered is sent again, and a final for audio already answered is not shown twice', async (t) => {
  const { server, mic, controller, log, state } = await setup(t);
  await controller.start();
  const session_id = controller.currentSessionId!;
  await server.until(() => server.json('stt_start').length === 1, 60_000, 'stt_start');
  for (let i = 0; i < 4; i++) mic.emit(4800); // 4 × 0.1 s at 48 kHz
  await server.until(() => server.binaryBytes() === 4 * 9600, 60_000, 'audio');
  // The first 0.2 s were one utterance, answered; the rest is not.
  server.send({ type: 'stt_final', text: 'answered', session_id, utterance: 1, start: 0.05, end: 0.2 });
  await until(() => logged(log, 'final').length === 1, 'first final');
  const port = server.port;
  await server.stop();
  const restarted = await new FakeSttServer().start(port);
  state.server = restarted;
  await restarted.until(() => restarted.binaryBytes() === 2 * 9600, 60_000, 'the unanswered 0.2 s sent again');
  const stream = restarted.received.map((r) => (r.kind === 'json' ? r.value.type : 'audio'));
  assert.deepEqual(stream, ['stt_start', 'audio', 'audio'], 'stt_start first, then the kept audio');
  // The new instance's stream starts at 0.2 s of the session: a final ending at or before it repeats the answered one.
  restarted.send({ type: 'stt_final', text: 'answered again', session_id, utterance: 1, start: 0, end: 0 });
  restarted.send({ type: 'stt_final', text: 'new words', session_id, utterance: 1, start: 0.01, end: 0.15 });
  await until(() => logged(log, 'final').length === 2, 'second final');
  await sleep(50);
  assert.deepEqual(logged(log, 'final').map((a) => a[0]), ['answered', 'new words']);
});

test('typed prompts are queued while disconnected and sent on reconnect', async (t) => {
  const { server, controller, state } = await setup(t);
  const port = server.port;
  await server.stop();
  await sleep(20);
  assert.equal(controller.sendPrompt('written offline'), false);
  const restarted = await new FakeSttServer().start(port);
  state.server = restarted;
  await restarted.until(() => restarted.json('prompt').length === 1, 60_000, 'queued prompt');
  assert.equal(restarted.json('prompt')[0]!.text, 'written offline');
  assert.equal(controller.sendPrompt('online'), true);
});

test('assistant replies are passed through; a mic that ends on its own stops the session', async (t) => {
  const { server, mic, controller, log } = await setup(t);
  server.send({ type: 'assistant_delta', text: 'Hel' });
  server.send({ type: 'assistant_delta', text: 'lo' });
  server.send({ type: 'assistant_done' });
  await until(() => logged(log, 'assistantDone').length === 1, 'assistant done');
  assert.deepEqual(logged(log, 'assistantDelta'), [['Hel'], ['lo']]);

  await controller.start();
  mic.end();
  await until(() => !controller.micActive, 'mic off');
  assert.deepEqual(logged(log, 'error').at(-1)?.[0], 'MIC_ENDED');
  await server.until(() => server.json('stt_stop').length === 1, 60_000, 'stt_stop');
});

test('a connection the server closed as unused (START_TIMEOUT, 4408) is reopened when the mic goes on', async (t) => {
  const { server, socket, controller, log } = await setup(t);
  server.send({ type: 'stt_error', error: 'no stt_start within 10 s', code: 'START_TIMEOUT', session_id: null });
  server.closeAll(4408, 'no stt_start in time');
  await until(() => socket.state === 'idle', 'idle');
  assert.deepEqual(logged(log, 'error'), [], 'a routine close is not shown as an error');
  await controller.start();
  await server.until(() => server.json('stt_start').length === 1, 60_000, 'stt_start on a new connection');
  assert.equal(server.json('stt_start')[0]!.session_id, controller.currentSessionId);
});
