import assert from 'node:assert/strict';
import { it } from 'node:test';
import { threadTime, threadTimeSince } from '../../src/asr/thread-cpu.ts';

it("measures the calling thread's CPU time (Linux), not the wall clock", { skip: process.platform !== 'linux' }, async () => {
  const started = threadTime();
  assert.ok(started && started.runMs > 0);
  let x = 0;
  for (let i = 0; i < 5e6; i++) x += Math.sqrt(i);
  assert.ok(x > 0 && threadTimeSince(started)!.runMs > 0);
  // Against the wall time actually slept: a busy machine wakes the thread late, but does not make it run.
  const asleep = threadTime();
  const wallStart = performance.now();
  await new Promise((r) => setTimeout(r, 200));
  const wallMs = performance.now() - wallStart;
  const slept = threadTimeSince(asleep)!;
  assert.ok(slept.runMs < wallMs / 2, `a sleeping thread ran ${slept.runMs} ms of ${wallMs.toFixed(0)}`);
  assert.ok(slept.waitMs >= 0);
});
