// The upload queue on its own: turns in order, a full queue refuses, a client that leaves while waiting is dropped.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UploadQueue } from '../../src/server/upload-queue.ts';

test('runs `concurrency` at once, queues `maxWaiting` more in order, refuses beyond', async () => {
  const q = new UploadQueue(1, 2);
  const first = await q.enter()!;
  const order: string[] = [];
  const second = q.enter()!.then((release) => (order.push('second'), release));
  const third = q.enter()!.then((release) => (order.push('third'), release));
  assert.equal(q.enter(), undefined, 'one running and two waiting: full');
  first();
  first(); // releasing twice gives back one turn only
  (await second)();
  (await third)();
  assert.deepEqual(order, ['second', 'third']);
  const again = await q.enter()!;
  again();
});

test('a waiting upload whose client leaves gives up its place', async () => {
  const q = new UploadQueue(1, 1);
  const running = await q.enter()!;
  const left = new AbortController();
  const waiting = q.enter(left.signal)!;
  left.abort();
  await assert.rejects(waiting, { name: 'AbortError' });
  const next = q.enter()!; // the place is free again
  running();
  (await next)();
});
