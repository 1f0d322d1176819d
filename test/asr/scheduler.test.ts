import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AsrEngine, Transcript } from '../../src/asr/engine.ts';
import { InferenceScheduler } from '../../src/asr/scheduler.ts';

/**
 * Scheduling policy is tested with an engine whose timing the test controls: the real engines' timing is not
 * deterministic enough to check ordering. The recorder and server tests run the scheduler on the real models.
 */
function controlledEngine(name: string, log: string[]): AsrEngine & { release(): void } {
  const waiting: Array<() => void> = [];
  return {
    name,
    maxAudioSeconds: 30,
    async transcribe(samples, options): Promise<Transcript> {
      log.push(`${name}:${samples[0]}`);
      await new Promise<void>((resolve, reject) => {
        waiting.push(resolve);
        options?.signal?.addEventListener('abort', () => {
          waiting.splice(waiting.indexOf(resolve), 1);
          reject(Object.assign(new Error('aborted'), { name: 'AbortError' }));
        });
      });
      return { text: `${name} ${samples[0]}`, model: name, audioSeconds: 1, processingMs: 1 };
    },
    async dispose() {},
    release() {
      waiting.shift()?.();
    },
  };
}

const audio = (tag: number) => Float32Array.of(tag);
const tick = () => new Promise((r) => setImmediate(r));

describe('inference scheduler', () => {
  it('runs finals before partials and replaces a stale partial of the same session', async () => {
    const log: string[] = [];
    const engine = controlledEngine('e', log);
    const scheduler = new InferenceScheduler({ finalEngine: engine, partialEngine: engine, parallelism: 1 });
    const a = scheduler.forSession('a');
    const b = scheduler.forSession('b');
    const first = a.final(audio(1)); // occupies the only slot
    const stale = a.partial(audio(2));
    const fresh = a.partial(audio(3)); // replaces 2
    const otherPartial = b.partial(audio(4));
    const final = b.final(audio(5)); // jumps ahead of the queued partials
    assert.equal(await stale, null);
    for (let i = 0; i < 4; i++) {
      engine.release();
      await tick();
      await tick();
    }
    assert.equal((await first).text, 'e 1');
    assert.equal((await final).text, 'e 5');
    assert.equal((await fresh)?.text, 'e 3');
    assert.equal((await otherPartial)?.text, 'e 4');
    assert.deepEqual(log, ['e:1', 'e:5', 'e:3', 'e:4']);
    assert.equal(scheduler.stats.partialsDropped, 1);
  });

  it('never runs more jobs than its parallelism', async () => {
    const log: string[] = [];
    const engine = controlledEngine('e', log);
    const scheduler = new InferenceScheduler({ finalEngine: engine, partialEngine: engine, parallelism: 2 });
    const jobs = [1, 2, 3].map((i) => scheduler.forSession(`s${i}`).final(audio(i)));
    await tick();
    assert.equal(scheduler.stats.running, 2);
    assert.equal(scheduler.queueDepth, 1);
    for (let i = 0; i < 3; i++) {
      engine.release();
      await tick();
    }
    assert.deepEqual((await Promise.all(jobs)).map((t) => t.text), ['e 1', 'e 2', 'e 3']);
  });

  it('times out a stuck job with PROCESSING_TIMEOUT and frees its slot', async () => {
    const engine = controlledEngine('e', []);
    const scheduler = new InferenceScheduler({ finalEngine: engine, partialEngine: engine, parallelism: 1, timeoutMs: 50 });
    await assert.rejects(scheduler.forSession('a').final(audio(1)), { code: 'PROCESSING_TIMEOUT' });
    const next = scheduler.forSession('a').final(audio(2));
    await tick();
    engine.release();
    assert.equal((await next).text, 'e 2');
  });

  it('cancelling a session drops its queued jobs', async () => {
    const engine = controlledEngine('e', []);
    const scheduler = new InferenceScheduler({ finalEngine: engine, partialEngine: engine, parallelism: 1 });
    const running = scheduler.forSession('x').final(audio(0));
    const session = scheduler.forSession('a');
    const partial = session.partial(audio(1));
    const final = session.final(audio(2));
    session.cancel();
    assert.equal(await partial, null);
    await assert.rejects(final, { name: 'AbortError' });
    engine.release();
    assert.equal((await running).text, 'e 0');
    assert.equal(scheduler.queueDepth, 0);
  });
});
