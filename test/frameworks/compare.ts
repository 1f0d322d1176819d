import assert from 'node:assert/strict';
import { before, type TestContext } from 'node:test';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { unscripted } from '../../eval/unscripted.ts';
import { clip, conversation, finals, serverForSuite, transcribeOver, werOf, type SpeechClip, type TestServer } from '../server/helpers.ts';
import type { ClientRun } from '../../eval/framework-clients/livekit.ts';

/** A dev recording, its reference sentences, and how many there are. */
export interface Recording {
  name: string;
  samples: Float32Array;
  clips: SpeechClip[];
}

/** Five read sentences of the dev set, a second apart (each one utterance for the seed protocol). */
export function readConversation(): Recording {
  const clips = ['sense_and_sensibility_01_austen_64kb-0880.wav', 'cards-005.wav', 'sense_and_sensibility_01_austen_64kb-0930.wav', 'goforward.wav', 'cards-003.wav'].map(clip);
  return { name: 'read conversation', ...conversation(clips, 1) };
}

/** The dev clips with hesitations inside their sentences (test/fixtures/unscripted.ts). */
export function unscriptedRecording(): Recording {
  const u = unscripted();
  return { name: 'unscripted pauses', samples: u.samples, clips: u.clips };
}

/** The seed protocol's finals on the same audio, on the same server (the words every client is compared with). */
export async function seedFinals(t: TestServer, samples: Float32Array, token?: string): Promise<string[]> {
  const client = await EarshotClient.connect(t.ws, token ? { token } : {});
  try {
    return finals((await transcribeOver(client, samples)).log).map((f) => f.text);
  } finally {
    await client.close();
  }
}

/**
 * A suite's server (behind `token`), the read conversation, and the seed protocol's finals on it, taken once before
 * the suite's tests: what every client of the suite is compared with.
 */
export function seedComparison(token: string): { t: TestServer; recording: Recording; seed: string[] } {
  const suite = { t: serverForSuite({ config: { token } }), recording: readConversation(), seed: [] as string[] };
  before(async () => {
    suite.seed = await seedFinals(suite.t, suite.recording.samples, token);
  });
  return suite;
}

/**
 * A client's run against the seed protocol's on the same recording: every sentence has its words in some final, the
 * client's WER is within `slack` of the seed protocol's (a word or two of a short recording), and no more finals than
 * `maxFinals`. The numbers go to the test's diagnostics (latency is reported, never asserted).
 */
export function assertLikeSeed(t: TestContext, name: string, run: ClientRun, recording: Recording, seed: string[], options: { maxFinals: number; slack?: number }): void {
  const clientWer = werOf(run.finals, recording.clips);
  const seedWer = werOf(seed, recording.clips);
  const sorted = [...run.latenciesMs].sort((a, b) => a - b);
  const pct = (p: number) => (sorted.length ? Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!) : NaN);
  t.diagnostic(
    `${name} on ${recording.name}: ${run.finals.length} finals / ${recording.clips.length} sentences (seed protocol ${seed.length}); ` +
      `WER ${(clientWer * 100).toFixed(1)} % (seed protocol ${(seedWer * 100).toFixed(1)} %); final after commit/endpoint p50 ${pct(0.5)} ms, p95 ${pct(0.95)} ms`,
  );
  assert.ok(run.finals.length >= 1 && run.finals.length <= options.maxFinals, `${run.finals.length} finals: ${JSON.stringify(run.finals)}`);
  assert.ok(clientWer <= seedWer + (options.slack ?? 0.04), `WER ${clientWer} vs the seed protocol's ${seedWer}: ${JSON.stringify(run.finals)} vs ${JSON.stringify(seed)}`);
}
