import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { clip, clipSamples, finals, serverForSuite, sharedService, transcribeOver } from '../server/helpers.ts';

const until = async (check: () => Promise<boolean> | boolean, ms: number) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (await check()) return true;
  return false;
};
/** Only a hang reaches it: a replacement worker loads its model in seconds, longer on a busy machine. */
const HANG_MS = 120_000;

describe('inference workers that die (real models, real worker threads)', () => {
  const t = serverForSuite();

  it('retries the job of a killed worker on the other one and replaces the worker', async () => {
    const service = await sharedService();
    const scheduler = service.scheduler;
    const deaths = scheduler.stats.workerDeaths;
    // Worker 0 holds the final model: kill it while it runs this final.
    const final = scheduler.forSession('victim').final(clipSamples(clip('goforward.wav')));
    service.killWorker(0);
    const transcript = await final;
    assert.match(transcript.text, /go forward/i);
    assert.equal(transcript.model, 'moonshine-tiny'); // retried on the only live worker
    assert.equal(scheduler.stats.workerDeaths, deaths + 1);
    assert.ok(await until(() => scheduler.liveLanes === 2, HANG_MS), `worker not back after the kill (live: ${scheduler.liveLanes})`);
    const next = await scheduler.forSession('after').final(clipSamples(clip('cards-001.wav')));
    assert.equal(next.model, 'moonshine-base');
    assert.match(next.text, /ten of/i);
  });

  it('/ready answers 503 while no worker is live, and sessions go on once they are back', async () => {
    const service = await sharedService();
    const client = await EarshotClient.connect(t.ws);
    service.killWorker(0);
    service.killWorker(1);
    // Polled every 20 ms while the replacements load their models (seconds): the 503 cannot be missed.
    assert.ok(await until(async () => (await fetch(`${t.http}/ready`)).status === 503, HANG_MS), '/ready never reported the dead pool');
    // Audio sent meanwhile waits for the replacements; its final is not lost.
    const { log } = await transcribeOver(client, clipSamples(clip('goforward.wav')));
    assert.match(finals(log)[0]?.text ?? JSON.stringify(log), /go forward/i);
    assert.ok(await until(async () => (await fetch(`${t.http}/ready`)).status === 200, HANG_MS), '/ready never 200 again');
    await client.close();
  });
});
