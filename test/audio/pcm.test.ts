import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { float32ToPcm16, Pcm16Stream, pcm16ToFloat32 } from '../../src/audio/pcm.ts';

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

test('pcm16ToFloat32 decodes little-endian int16 to [-1, 1)', () => {
  const bytes = new Uint8Array([0x00, 0x80, 0xff, 0x7f, 0x00, 0x00, 0xff, 0xff, 0x00, 0x40]);
  assert.deepEqual(Array.from(pcm16ToFloat32(bytes)), [-1, 32767 / 32768, 0, -1 / 32768, 0.5]);
});

test('pcm16ToFloat32 ignores a trailing odd byte and fills a caller buffer', () => {
  const out = new Float32Array(8);
  const got = pcm16ToFloat32(new Uint8Array([0x00, 0x40, 0x00, 0xc0, 0x12]), out);
  assert.deepEqual(Array.from(got), [0.5, -0.5]);
  assert.equal(got.buffer, out.buffer);
  assert.throws(() => pcm16ToFloat32(new Uint8Array(6), new Float32Array(2)), RangeError);
});

test('pcm16ToFloat32 reads unaligned Buffer slices', () => {
  const backing = Buffer.from([0xaa, 0x00, 0x40, 0x00, 0xc0]);
  assert.deepEqual(Array.from(pcm16ToFloat32(backing.subarray(1))), [0.5, -0.5]);
});

test('float32ToPcm16 clamps, rounds and inverts pcm16ToFloat32 exactly', () => {
  const enc = float32ToPcm16(new Float32Array([2, -2, 1, -1, 0.5, NaN, -0]));
  assert.deepEqual(Array.from(enc), [32767, -32768, 32767, -32768, 16384, 0, 0]);
  const all = new Int16Array(65536);
  for (let i = 0; i < all.length; i++) all[i] = i - 32768;
  const bytes = new Uint8Array(all.buffer);
  assert.deepEqual(float32ToPcm16(pcm16ToFloat32(bytes)), all);
});

test('Pcm16Stream gives the same samples for any chunking (property)', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 600 }), fc.array(fc.integer({ min: 0, max: 37 }), { maxLength: 40 }), fc.integer(), (n, sizes, seed) => {
      const bytes = randomBytes(n, seed);
      const whole = pcm16ToFloat32(bytes);
      // Copy into a buffer at an odd offset so every chunk view is unaligned.
      const backing = new Uint8Array(n + 1);
      backing.set(bytes, 1);
      const shifted = backing.subarray(1);
      const stream = new Pcm16Stream();
      const parts: number[] = [];
      let pos = 0;
      for (const size of [...sizes, n]) {
        if (pos >= n) break;
        const end = Math.min(n, pos + size);
        parts.push(...stream.push(shifted.subarray(pos, end)));
        pos = end;
      }
      assert.deepEqual(parts, Array.from(whole));
    }),
  );
});

test('Pcm16Stream fed one byte at a time', () => {
  const bytes = randomBytes(1001, 7);
  const stream = new Pcm16Stream();
  const got: number[] = [];
  for (let i = 0; i < bytes.length; i++) got.push(...stream.push(bytes.subarray(i, i + 1)));
  assert.deepEqual(got, Array.from(pcm16ToFloat32(bytes)));
});

test('Pcm16Stream.reset drops the carried byte', () => {
  const stream = new Pcm16Stream();
  assert.equal(stream.push(new Uint8Array([0x00, 0x40, 0x99])).length, 1);
  stream.reset();
  assert.deepEqual(Array.from(stream.push(new Uint8Array([0x00, 0xc0]))), [-0.5]);
});

test('Pcm16Stream returns arrays the caller owns', () => {
  const stream = new Pcm16Stream();
  const a = stream.push(new Uint8Array([0x00, 0x40]));
  const b = stream.push(new Uint8Array([0x00, 0xc0]));
  assert.notEqual(a.buffer, b.buffer);
  assert.deepEqual([a[0], b[0]], [0.5, -0.5]);
});
