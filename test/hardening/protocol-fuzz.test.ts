import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import WebSocket from 'ws';
import { EarshotClient, toPcm16, type ServerMessage } from '../../src/client/earshot-client.ts';
import { TranscriptionService } from '../../src/pipeline/transcription-service.ts';
import { EarshotServer } from '../../src/server/server.ts';
import { silentLogger } from '../../src/server/logger.ts';
import { clipSamples } from '../../eval/conversation.ts';
import { clip } from '../../eval/speech.ts';
import { waitFor } from '../server/helpers.ts';

/**
 * Property-based protocol fuzzing against a real server with the real models: random sequences of valid and invalid
 * text frames, binary frames of any size and content, start/stop/ping interleavings and abrupt disconnects.
 * Bounded in `npm test` (fixed seed); EARSHOT_FUZZ_RUNS=500 EARSHOT_FUZZ_SEED=… for longer runs.
 */
const RUNS = Number(process.env.EARSHOT_FUZZ_RUNS ?? 20);
const SEED = Number(process.env.EARSHOT_FUZZ_SEED ?? 20261124);
const KNOWN_TYPES = new Set(['stt_start', 'stt_stop', 'ping', 'prompt']);

type Action =
  | { kind: 'text'; data: string }
  | { kind: 'binary'; bytes: Uint8Array }
  | { kind: 'speech' }
  | { kind: 'pause'; ms: number };

function isPing(data: string): boolean {
  try {
    const m = JSON.parse(data) as { type?: unknown } | null;
    return typeof m === 'object' && m !== null && !Array.isArray(m) && m.type === 'ping';
  } catch {
    return false;
  }
}

/** The error code the server must answer a text frame with, or undefined when it is valid. */
function expectedTextError(data: string): string | undefined {
  let msg: unknown;
  try {
    msg = JSON.parse(data);
  } catch {
    return 'BAD_MESSAGE';
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return 'BAD_MESSAGE';
  const m = msg as Record<string, unknown>;
  if (typeof m.type === 'object' && m.type !== null) return 'BAD_MESSAGE';
  if (!KNOWN_TYPES.has(m.type as string)) return 'UNKNOWN_TYPE';
  if (m.type === 'stt_start') {
    if (m.session_id !== undefined && m.session_id !== null && m.session_id !== '' && (typeof m.session_id !== 'string' || m.session_id.length > 256)) return 'BAD_MESSAGE';
    const rate = m.sample_rate ?? 16000;
    if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 8000 || rate > 192000) return 'BAD_MESSAGE';
  }
  return undefined;
}

const sessionIds = fc.oneof(fc.constant('fuzz'), fc.string({ maxLength: 20 }), fc.constant(undefined), fc.integer(), fc.constant('x'.repeat(300)));
const rates = fc.oneof(fc.constant(undefined), fc.constantFrom(8000, 16000, 22050, 44100, 48000), fc.constantFrom(0, -1, 16000.5, 1e9, 'fast', null, [[16000]], { hz: 16000 }));
const textFrames: fc.Arbitrary<Action> = fc
  .oneof(
    fc.record({ type: fc.constant('stt_start'), session_id: sessionIds, sample_rate: rates }).map((m) => JSON.stringify(m)),
    fc.constant(JSON.stringify({ type: 'stt_stop', session_id: 'fuzz' })),
    fc.constant('{"type":"ping"}'),
    fc.record({ type: fc.constant('prompt'), text: fc.string({ maxLength: 50 }) }).map((m) => JSON.stringify(m)),
    fc.string({ maxLength: 40 }),
    fc.json({ maxDepth: 2 }),
    fc.record({ type: fc.oneof(fc.string({ maxLength: 10 }), fc.integer(), fc.constant(null), fc.constantFrom([], [['stt_start']], { a: { b: 1 } })) }).map((m) => JSON.stringify(m)),
    fc.constantFrom('', 'null', '[]', '"stt_start"', '{"type":"stt_start"', '\u0000\uffff', '{"type":"__proto__"}'),
  )
  .map((data) => ({ kind: 'text', data }));
const nanBytes = new Uint8Array(new Float32Array(1024).fill(NaN).buffer);
const clipping = new Uint8Array(new Int16Array(4000).fill(0x7fff).buffer);
const binaryFrames: fc.Arbitrary<Action> = fc
  .oneof(
    fc.uint8Array({ minLength: 0, maxLength: 3000 }),
    fc.constantFrom(new Uint8Array([1]), nanBytes, clipping, new Uint8Array(1024 * 1024 + 1)),
  )
  .map((bytes) => ({ kind: 'binary', bytes }));
const actions = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: textFrames },
    { weight: 4, arbitrary: binaryFrames },
    { weight: 1, arbitrary: fc.constant<Action>({ kind: 'speech' }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 100 }).map<Action>((ms) => ({ kind: 'pause', ms })) },
  ),
  { maxLength: 25 },
);

/** Failures name the invariant and summarize the script (a 1 MiB frame in full would bury the message). */
function report(details: fc.RunDetails<[Action[], boolean]>): void {
  if (!details.failed) return;
  const [script, abrupt] = details.counterexample ?? [[], false];
  const summary = script.map((a) => (a.kind === 'binary' ? `binary(${a.bytes.length})` : a.kind === 'text' ? `text(${a.data.slice(0, 60)})` : a.kind === 'pause' ? `pause(${a.ms})` : 'speech'));
  const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  throw new Error(`${cause}\nseed ${details.seed}, abrupt ${abrupt}, script: ${summary.join(', ')}`);
}

describe('protocol fuzzing (real server, real models)', () => {
  let service: TranscriptionService;
  let server: EarshotServer;
  let wsUrl: string;
  const speech = toPcm16(clipSamples(clip('cards-001.wav')));
  const crashes: unknown[] = [];
  const onCrash = (e: unknown) => crashes.push(e);

  before(async () => {
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
    service = await TranscriptionService.load();
    server = new EarshotServer({ config: { port: 0, maxSessions: 64 }, service, log: silentLogger });
    await server.listen();
    wsUrl = `${server.url.replace(/^http/, 'ws')}/ws/stream`;
  });
  after(async () => {
    await server.close();
    await service.dispose();
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  });

  it('keeps every invariant under random client behaviour', async () => {
    await fc.assert(
      fc.asyncProperty(actions, fc.boolean(), async (script, abrupt) => {
        const ws = new WebSocket(wsUrl);
        const received: ServerMessage[] = [];
        ws.on('message', (data, isBinary) => {
          if (!isBinary) received.push(JSON.parse(String(data)) as ServerMessage);
        });
        await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
        const expected: Record<string, number> = {};
        for (const action of script) {
          if (action.kind === 'text') {
            ws.send(action.data);
            const code = expectedTextError(action.data);
            if (code) expected[code] = (expected[code] ?? 0) + 1;
          } else if (action.kind === 'binary') {
            ws.send(action.bytes);
            if (action.bytes.length > 1024 * 1024) expected.AUDIO_FRAME_TOO_LARGE = (expected.AUDIO_FRAME_TOO_LARGE ?? 0) + 1;
          } else if (action.kind === 'speech') {
            ws.send(speech);
          } else {
            await new Promise((r) => setTimeout(r, action.ms));
          }
        }
        // Barrier: the server answers in order, so once this pong is in, every error for the script is too.
        ws.send('{"type":"ping"}');
        const pongs = () => received.filter((m) => m.type === 'pong').length;
        const wanted = script.filter((a) => a.kind === 'text' && isPing(a.data)).length + 1;
        await waitFor(() => pongs() >= wanted, 60_000, `${wanted} pongs (one per ping, the barrier's last)`);
        assert.equal(pongs(), wanted, 'one pong per ping');
        if (abrupt) {
          ws.terminate();
        } else {
          // A normal ending: stop, wait for idle, then every utterance that reached recording_stop has its answer.
          ws.send(JSON.stringify({ type: 'stt_stop', session_id: 'fuzz' }));
          await waitFor(() => {
            const lastIdle = received.findLastIndex((m) => m.type === 'stt_state' && m.state === 'idle');
            return lastIdle >= 0 && received.slice(lastIdle).every((m) => m.type !== 'stt_listening');
          }, 60_000, 'idle after stt_stop');
          ws.close();
          const stops = received.filter((m) => m.type === 'stt_recording_stop').length;
          const answers = received.filter((m) => m.type === 'stt_final' || m.type === 'stt_discarded').length;
          const failures = received.filter((m) => m.type === 'stt_error' && (m.code === 'TRANSCRIPTION_FAILED' || m.code === 'PROCESSING_TIMEOUT')).length;
          assert.equal(answers + failures, stops, 'an utterance that reached stt_recording_stop got no final');
        }
        const got: Record<string, number> = {};
        for (const m of received) if (m.type === 'stt_error') got[m.code] = (got[m.code] ?? 0) + 1;
        for (const code of ['BAD_MESSAGE', 'UNKNOWN_TYPE', 'AUDIO_FRAME_TOO_LARGE']) {
          assert.equal(got[code] ?? 0, expected[code] ?? 0, `${code}: expected ${expected[code] ?? 0}, got ${got[code] ?? 0}`);
        }
        for (const m of received) if (m.type === 'stt_error') assert.ok(m.code && m.error, 'stt_error without code or text');
        assert.equal(got.INTERNAL_ERROR, undefined, 'the server hit an internal error');
        assert.deepEqual(crashes, []);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true, reporter: report },
    );

    // Still up, still transcribing, and every session freed once the clients are gone.
    assert.equal((await fetch(`${server.url}/health`)).status, 200);
    const client = await EarshotClient.connect(wsUrl);
    const finals: string[] = [];
    client.on('final', (m) => finals.push(m.text));
    await client.start('after-fuzz');
    await client.streamPcm(clipSamples(clip('goforward.wav')), { realtime: false });
    await client.streamPcm(new Float32Array(16000), { realtime: false });
    await client.stop();
    await client.close();
    assert.match(finals.join(' ').toLowerCase(), /go forward ten met/);
    await waitFor(async () => /^earshot_sessions 0$/m.test(await (await fetch(`${server.url}/metrics`)).text()), 60_000, 'earshot_sessions 0');
  });
});
