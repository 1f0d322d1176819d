import { after, before } from 'node:test';
import { wer } from '../../eval/wer.ts';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import type { ServerMessage } from '../../src/protocol/seed-messages.ts';
import { silentLogger } from '../../src/server/logger.ts';
import { EarshotServer, type EarshotServerOptions } from '../../src/server/server.ts';
import { TranscriptionService } from '../../src/pipeline/transcription-service.ts';
import { clipSamples, concat, conversation } from '../../eval/conversation.ts';
import { clip, SPEECH_CLIPS, type SpeechClip } from '../../eval/speech.ts';

export { clip, clipSamples, concat, conversation, SPEECH_CLIPS, wer };
export type { SpeechClip };

/** Clips that each give exactly one final (jfk.wav has pauses long enough to end an utterance). */
export const SINGLE_UTTERANCE_CLIPS = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav');

let shared: Promise<TranscriptionService> | undefined;

/** The models, loaded once per test file (each file runs in its own process). */
export function sharedService(): Promise<TranscriptionService> {
  // No cross-check of finals: it runs only while the worker has time, so the same audio could get different finals
  // from one test to the next, and these tests compare finals across protocols (test/asr/decoding.test.ts covers it).
  shared ??= TranscriptionService.load({ parallelism: 2, checkModel: null });
  return shared;
}

export async function disposeSharedService(): Promise<void> {
  if (shared) await (await shared).dispose();
  shared = undefined;
}

export interface TestServer {
  server: EarshotServer;
  http: string;
  ws: string;
}

/** A real server on 127.0.0.1 at a free port. */
export async function startServer(options: EarshotServerOptions = {}): Promise<TestServer> {
  const server = new EarshotServer({ log: silentLogger, ...options, config: { host: '127.0.0.1', port: 0, ...options.config } });
  await server.listen();
  return { server, http: server.url, ws: `${server.url.replace(/^http/, 'ws')}/ws/stream` };
}

/**
 * A real server on the shared models for the enclosing describe(): started in its before() hook, closed (models
 * freed) in its after() hook. The returned object is filled in once the hook has run.
 */
export function serverForSuite(options: EarshotServerOptions = {}): TestServer {
  const t = {} as TestServer;
  before(async () => {
    Object.assign(t, await startServer({ service: await sharedService(), ...options }));
  });
  after(async () => {
    await t.server?.close();
    await disposeSharedService();
  });
  return t;
}

/** Every message the client receives from now on. */
export function record(client: EarshotClient): ServerMessage[] {
  const log: ServerMessage[] = [];
  client.on('message', (m) => log.push(m));
  return log;
}

export function finals(log: ServerMessage[]): Array<Extract<ServerMessage, { type: 'stt_final' }>> {
  return log.filter((m): m is Extract<ServerMessage, { type: 'stt_final' }> => m.type === 'stt_final');
}

/** One start … stream … stop cycle; returns the messages of the cycle. */
export async function transcribeOver(
  client: EarshotClient,
  samples: Float32Array,
  options: { sessionId?: string; realtime?: boolean; speed?: number; sampleRate?: number; chunkMs?: number; agc?: boolean } = {},
): Promise<{ log: ServerMessage[]; sessionId: string }> {
  const log: ServerMessage[] = [];
  const off = client.on('message', (m) => log.push(m));
  try {
    const sessionId = await client.start(options.sessionId, { sampleRate: options.sampleRate, agc: options.agc });
    await client.streamPcm(samples, { realtime: options.realtime ?? false, speed: options.speed, sampleRate: options.sampleRate, chunkMs: options.chunkMs });
    await client.stop();
    return { log, sessionId };
  } finally {
    off();
  }
}

/** WER of finals against clips, in order. */
export function werOf(texts: string[], clips: SpeechClip[]): number {
  return wer([{ reference: clips.map((c) => c.text).join(' '), hypothesis: texts.join(' ') }]).wer;
}

export async function metricValue(http: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** Polls `check` until it holds; the ceiling is for a hang, not a latency bound. */
export async function waitFor(check: () => Promise<boolean> | boolean, timeoutMs = 60_000, what = 'condition'): Promise<void> {
  const until = performance.now() + timeoutMs;
  while (performance.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export function silence(seconds: number, rate = 16000): Float32Array {
  return new Float32Array(Math.round(seconds * rate));
}

