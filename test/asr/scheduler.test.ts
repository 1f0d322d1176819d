import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AsrEngine, Transcript } from '../../src/asr/engine.ts';
import { InferenceScheduler, type InferenceLane, type JobInput } from '../../src/asr/scheduler.ts';

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
/** A worker running both kinds of job on one engine. */
const lane = (engine: AsrEngine, home: InferenceLane['home'] = 'final'): InferenceLane => ({ final: engine, partial: engine, home, live: () => true });
const tick = () => new Promise((r) => setImmediate(r));

/**
 * A session as the recorder would be: `clock` its stream clock; partial(read) asks for a partial whose audio `read`
 * gives when the job starts; partialShown() as the recorder's screen changes.
 */
function sessionOf(scheduler: InferenceScheduler, id: string, clock?: () => number) {
  let read: () => JobInput | undefined = () => undefined;
  const screen = { blank: true, since: performance.now() };
  const transcriber = scheduler.forSession(id, { receivedSeconds: clock, screen: () => screen, partialInput: () => read() });
  return {
    ...transcriber,
    partial(input: () => JobInput | undefined) {
      read = input;
      return transcriber.partial();
    },
    partialShown() {
      screen.blank = false;
      screen.since = performance.now();
    },
  };
}

describe('inference scheduler', () => {
  it('runs finals before partials and replaces a stale partial of the same session', async () => {
    const log: string[] = [];
    const engine = controlledEngine('e', log);
    const scheduler = new InferenceScheduler({ lanes: [lane(engine)] });
    const a = sessionOf(scheduler, 'a');
    const b = sessionOf(scheduler, 'b');
    const first = a.final(audio(1)); // occupies the only slot
    const stale = a.partial(() => ({ samples: audio(2) }));
    const fresh = a.partial(() => ({ samples: audio(3) })); // replaces 2
    const otherPartial = b.partial(() => ({ samples: audio(4) }));
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
    assert.equal(scheduler.stats.partialsSuperseded, 1);
  });

  it('never runs more jobs than it has workers', async () => {
    const log: string[] = [];
    const engine = controlledEngine('e', log);
    const scheduler = new InferenceScheduler({ lanes: [lane(engine), lane(engine)] });
    const jobs = [1, 2, 3].map((i) => sessionOf(scheduler, `s${i}`).final(audio(i)));
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
    const scheduler = new InferenceScheduler({ lanes: [lane(engine)], timeoutMs: 50 });
    await assert.rejects(sessionOf(scheduler, 'a').final(audio(1)), { code: 'PROCESSING_TIMEOUT' });
    const next = sessionOf(scheduler, 'a').final(audio(2));
    await tick();
    engine.release();
    assert.equal((await next).text, 'e 2');
  });

  it('counts finals given up while queued (withdrawn) and while running (abandoned)', async () => {
    const engine = controlledEngine('e', []);
    const scheduler = new InferenceScheduler({ lanes: [lane(engine)] });
    const [first, second] = [new AbortController(), new AbortController()];
    const running = sessionOf(scheduler, 'a').final(audio(1), first.signal);
    const queued = sessionOf(scheduler, 'b').final(audio(2), second.signal);
    second.abort();
    await assert.rejects(queued, { name: 'AbortError' });
    first.abort();
    await assert.rejects(running, { name: 'AbortError' });
    assert.deepEqual([scheduler.stats.finalsWithdrawn, scheduler.stats.finalsAbandoned, scheduler.stats.finalsDone], [1, 1, 0]);
  });

  it('cancelling a session drops its queued jobs', async () => {
    const engine = controlledEngine('e', []);
    const scheduler = new InferenceScheduler({ lanes: [lane(engine)] });
    const running = sessionOf(scheduler, 'x').final(audio(0));
    const session = sessionOf(scheduler, 'a');
    const partial = session.partial(() => ({ samples: audio(1) }));
    const final = session.final(audio(2));
    session.cancel();
    assert.equal(await partial, null);
    await assert.rejects(final, { name: 'AbortError' });
    engine.release();
    assert.equal((await running).text, 'e 0');
    assert.equal(scheduler.queueDepth, 0);
  });

  it('keeps every worker busy: the final-model worker runs partials when no final waits', async () => {
    const log: string[] = [];
    const big = controlledEngine('big', log);
    const small = controlledEngine('small', log);
    const scheduler = new InferenceScheduler({ lanes: [lane(big), lane(small, 'partial')] });
    const partials = ['a', 'b'].map((s, i) => sessionOf(scheduler, s).partial(() => ({ samples: audio(i) })));
    await tick();
    assert.equal(scheduler.stats.running, 2);
    big.release();
    small.release();
    assert.deepEqual((await Promise.all(partials)).map((t) => t?.model).sort(), ['big', 'small']);
  });

  it('stops a partial on the final-model worker for a real-time final instead of overflowing it to the small model', async () => {
    const log: string[] = [];
    const big = controlledEngine('big', log);
    const small = controlledEngine('small', log);
    const scheduler = new InferenceScheduler({ lanes: [lane(big), lane(small, 'partial')] });
    const onSmall = sessionOf(scheduler, 'a').partial(() => ({ samples: audio(1) })); // partials go to the small model first
    const onBig = sessionOf(scheduler, 'b').partial(() => ({ samples: audio(2) }));
    const final = sessionOf(scheduler, 'c').final(audio(3));
    assert.equal(await onBig, null);
    await tick();
    big.release();
    small.release();
    assert.equal((await final).model, 'big');
    assert.equal((await onSmall)?.model, 'small');
    assert.deepEqual(log, ['small:1', 'big:2', 'big:3']);
    assert.equal(scheduler.stats.partialsPreempted, 1);
    assert.equal(scheduler.stats.finalsOverflowed, 0);
  });

  it('runs a final that waited longer than lateFinalMs on the lane\'s realtime model', async () => {
    const log: string[] = [];
    const big = controlledEngine('big', log);
    const small = controlledEngine('small', log);
    const scheduler = new InferenceScheduler({ lanes: [{ ...lane(big), late: small }], lateFinalMs: 30 });
    const onTime = sessionOf(scheduler, 'a').final(audio(1));
    const late = sessionOf(scheduler, 'b').final(audio(2));
    await new Promise((r) => setTimeout(r, 40));
    big.release();
    assert.equal((await onTime).model, 'big');
    await tick();
    small.release();
    assert.equal((await late).model, 'small');
    assert.deepEqual(log, ['big:1', 'small:2']);
    assert.equal(scheduler.stats.finalsOverflowed, 1);
    // A session ahead of real time waits by design: its late final stays on the big model.
    let streamed = 0;
    const upload = sessionOf(scheduler, 'upload', () => streamed);
    streamed = 60;
    const first = upload.final(audio(3));
    const waited = upload.final(audio(4));
    await new Promise((r) => setTimeout(r, 40));
    big.release();
    await first;
    await tick();
    big.release();
    assert.equal((await waited).model, 'big');
  });

  it('ranks partials by the screen: an utterance with nothing shown first, then the stalest', async () => {
    const log: string[] = [];
    const engine = controlledEngine('e', log);
    const scheduler = new InferenceScheduler({ lanes: [lane(engine)] });
    const [a, b, c] = ['a', 'b', 'c'].map((s) => sessionOf(scheduler, s));
    a!.partialShown();
    await new Promise((r) => setTimeout(r, 5));
    b!.partialShown();
    const busy = sessionOf(scheduler, 'x').final(audio(0));
    const jobs = [b!.partial(() => ({ samples: audio(2) })), a!.partial(() => ({ samples: audio(1) })), c!.partial(() => ({ samples: audio(3) }))];
    for (let i = 0; i < 4; i++) {
      engine.release();
      await tick();
      await tick();
    }
    await busy;
    await Promise.all(jobs);
    assert.deepEqual(log, ['e:0', 'e:3', 'e:1', 'e:2']);
  });

  it('serves a session sending faster than real time after real-time ones, and keeps their finals on the big model', async () => {
    const log: string[] = [];
    const big = controlledEngine('big', log);
    const small = controlledEngine('small', log);
    const scheduler = new InferenceScheduler({ lanes: [lane(big), lane(small, 'partial')] });
    let streamed = 0;
    const fast = sessionOf(scheduler, 'fast', () => streamed);
    streamed = 60; // a minute of audio within a moment
    const fastFinals = [fast.final(audio(1)), fast.final(audio(2))];
    const realtime = sessionOf(scheduler, 'user', () => 0).final(audio(3));
    await tick();
    big.release(); // the real-time final took the big model's worker from the fast session
    assert.equal((await realtime).model, 'big');
    for (let i = 0; i < 4; i++) {
      await tick();
      big.release();
    }
    assert.deepEqual((await Promise.all(fastFinals)).map((t) => t.model), ['big', 'big']);
    assert.deepEqual(log, ['big:1', 'big:3', 'big:1', 'big:2']);
    assert.equal(scheduler.stats.finalsPreempted, 1);
  });

  it('retries a final once on another worker when its worker dies', async () => {
    const dying: AsrEngine = {
      name: 'dying',
      maxAudioSeconds: 30,
      transcribe: () => Promise.reject(Object.assign(new Error('inference worker stopped unexpectedly'), { code: 'WORKER_DIED' })),
      async dispose() {},
    };
    const log: string[] = [];
    const other = controlledEngine('other', log);
    let alive = true;
    const scheduler = new InferenceScheduler({ lanes: [{ ...lane(dying), live: () => alive }, lane(other, 'partial')] });
    const final = sessionOf(scheduler, 'a').final(audio(1));
    alive = false;
    await tick();
    other.release();
    assert.equal((await final).model, 'other');
    assert.equal(scheduler.stats.workerDeaths, 1);
    assert.equal(scheduler.liveLanes, 1);
  });

  it("gives a blank-only worker an utterance's first partial, before the small model, and nothing else", async () => {
    const log: string[] = [];
    const big = controlledEngine('big', log);
    const small = controlledEngine('small', log);
    const scheduler = new InferenceScheduler({ lanes: [{ ...lane(big), partialsFor: 'blank' }, lane(small, 'partial')] });
    const shown = sessionOf(scheduler, 'shown');
    shown.partialShown();
    const blank = sessionOf(scheduler, 'blank').partial(() => ({ samples: audio(1) }));
    await tick();
    assert.deepEqual(log, ['big:1']); // the small model was free too
    const another = sessionOf(scheduler, 'other').partial(() => ({ samples: audio(4) })); // big is busy: the small model takes it
    const later = [shown.partial(() => ({ samples: audio(2) })), shown.partial(() => ({ samples: audio(3) }))]; // 3 replaces 2 in the queue
    await tick();
    assert.deepEqual(log, ['big:1', 'small:4']);
    big.release();
    await tick();
    assert.deepEqual(log, ['big:1', 'small:4'], 'the big model takes no partial of a screen that shows one');
    small.release();
    await tick();
    small.release();
    assert.deepEqual([(await blank)?.model, ...(await Promise.all([another, ...later])).map((t) => t?.model)], ['big', 'small', undefined, 'small']);
    assert.deepEqual(log, ['big:1', 'small:4', 'small:3']);
  });

  it("reads a partial's audio when it starts, and drops it when there is nothing left to read", async () => {
    const log: string[] = [];
    const engine = controlledEngine('e', log);
    const scheduler = new InferenceScheduler({ lanes: [lane(engine)] });
    const busy = sessionOf(scheduler, 'x').final(audio(0));
    let grown = 1;
    const waited = sessionOf(scheduler, 'a').partial(() => ({ samples: audio(grown) }));
    const ended = sessionOf(scheduler, 'b').partial(() => undefined);
    grown = 2; // audio arrived while the partial waited
    engine.release();
    await busy;
    await tick();
    engine.release();
    assert.equal((await waited)?.text, 'e 2');
    assert.equal(await ended, null);
    assert.deepEqual(log, ['e:0', 'e:2']);
  });

  it('gives no partial to a worker without a partial engine', async () => {
    const log: string[] = [];
    const big = controlledEngine('big', log);
    const small = controlledEngine('small', log);
    const scheduler = new InferenceScheduler({ lanes: [{ final: big, home: 'final', live: () => true }, lane(small, 'partial')] });
    const partials = ['a', 'b'].map((s, i) => sessionOf(scheduler, s).partial(() => ({ samples: audio(i) })));
    await tick();
    assert.equal(scheduler.stats.running, 1);
    small.release();
    await tick();
    small.release();
    assert.deepEqual((await Promise.all(partials)).map((t) => t?.model), ['small', 'small']);
  });
});
