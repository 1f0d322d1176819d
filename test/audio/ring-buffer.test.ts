import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RingBuffer } from '../../src/audio/ring-buffer.ts';

const seq = (from: number, n: number) => Float32Array.from({ length: n }, (_, i) => from + i);

test('holds everything until full, oldest first', () => {
  const ring = new RingBuffer(5);
  assert.equal(ring.length, 0);
  assert.deepEqual(Array.from(ring.readAll()), []);
  ring.write(seq(0, 2));
  ring.write(seq(2, 2));
  assert.equal(ring.length, 4);
  assert.deepEqual(Array.from(ring.readAll()), [0, 1, 2, 3]);
});

test('keeps only the newest `capacity` samples across wraps', () => {
  const ring = new RingBuffer(5);
  const all: number[] = [];
  for (let i = 0, v = 0; i < 20; i++) {
    const n = (i * 7) % 4; // 0..3 samples per write, incl. empty writes
    ring.write(seq(v, n));
    for (let k = 0; k < n; k++) all.push(v + k);
    v += n;
    assert.deepEqual(Array.from(ring.readAll()), all.slice(-5));
    assert.equal(ring.length, Math.min(5, all.length));
  }
});

test('a write larger than capacity keeps its tail', () => {
  const ring = new RingBuffer(4);
  ring.write(seq(0, 3));
  ring.write(seq(100, 10));
  assert.deepEqual(Array.from(ring.readAll()), [106, 107, 108, 109]);
});

test('readAll returns a copy; clear empties', () => {
  const ring = new RingBuffer(3);
  ring.write(seq(1, 3));
  const snapshot = ring.readAll();
  ring.write(seq(9, 1));
  assert.deepEqual(Array.from(snapshot), [1, 2, 3]);
  ring.clear();
  assert.equal(ring.length, 0);
  ring.write(seq(5, 1));
  assert.deepEqual(Array.from(ring.readAll()), [5]);
});

test('capacity 0 holds nothing; bad capacity throws', () => {
  const ring = new RingBuffer(0);
  ring.write(seq(0, 10));
  assert.equal(ring.length, 0);
  assert.throws(() => new RingBuffer(-1), RangeError);
  assert.throws(() => new RingBuffer(2.5), RangeError);
});
