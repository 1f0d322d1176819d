import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { clip, conversation, finals, metricValue, sharedService, transcribeOver, waitFor, werOf, type SpeechClip, type TestServer, serverForSuite } from './helpers.ts';

const SENSE = ['0870', '0880', '0890', '0920', '0930'].map((n) => clip(`sense_and_sensibility_01_austen_64kb-${n}.wav`));
const SHORT = [clip('cards-003.wav'), clip('cards-004.wav'), clip('goforward.wav')];

/**
 * Client i's clips: a different sequence for each of 8 clients, each with 30+ words so that one substituted word does
 * not decide a per-client WER (under load the scheduler may run a final on the realtime model).
 */
function sequence(i: number): SpeechClip[] {
  return [SENSE[i % 5]!, SHORT[i % 3]!, SENSE[(i + 2) % 5]!, SENSE[(i + 3) % 5]!];
}

async function runClients(t: TestServer, n: number, options: { realtime: boolean; speed?: number }) {
  const started = performance.now();
  const results = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const clips = sequence(i);
      const client = await EarshotClient.connect(t.ws);
      const { log } = await transcribeOver(client, conversation(clips, 0.8).samples, { sessionId: `client-${i}`, ...options });
      await client.close();
      return { i, clips, log };
    }),
  );
  return { results, wall: (performance.now() - started) / 1000 };
}

function check(results: Awaited<ReturnType<typeof runClients>>['results']): number[] {
  const latencies: number[] = [];
  for (const { i, clips, log } of results) {
    for (const m of log) if (m.type !== 'pong') assert.equal(m.session_id, `client-${i}`, `client ${i} got a message of another session`);
    const f = finals(log);
    assert.equal(f.length, clips.length, `client ${i}: ${JSON.stringify(f.map((x) => x.text))}`);
    const w = werOf(f.map((x) => x.text), clips);
    assert.ok(w <= 0.05, `client ${i}: WER ${(w * 100).toFixed(1)}%: ${f.map((x) => x.text).join(' | ')} vs ${clips.map((c) => c.text).join(' | ')}`);
    latencies.push(...f.map((x) => x.latency_ms));
  }
  return latencies;
}

describe('concurrent sessions', () => {
  const t = serverForSuite();

  test('two clients at real time each get only their own transcripts', async () => {
    const { results, wall } = await runClients(t, 2, { realtime: true });
    const latencies = check(results);
    console.log(`# 2 clients at real time: ${wall.toFixed(1)} s wall; final latencies ms: ${latencies.join(', ')}`);
  });

  test('eight clients streaming at once (2× real time) each get only their own transcripts', async () => {
    const { results, wall } = await runClients(t, 8, { realtime: true, speed: 2 });
    const latencies = check(results).sort((a, b) => a - b);
    const partials = results.reduce((n, r) => n + r.log.filter((m) => m.type === 'stt_update').length, 0);
    console.log(
      `# 8 clients at 2× real time: ${wall.toFixed(1)} s wall; final latency ms p50 ${latencies[Math.floor(latencies.length / 2)]}, ` +
        `max ${latencies.at(-1)}; partials ${partials}; scheduler ${JSON.stringify((await sharedService()).scheduler.stats)}`,
    );
    await waitFor(async () => (await metricValue(t.http, 'earshot_sessions')) === 0, 60_000, 'sessions gauge back to 0');
  });
});
