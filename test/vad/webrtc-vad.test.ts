import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fvadModule } from '../../src/vad/fvad-module.ts';
import { WebRtcVad, type WebRtcMode } from '../../src/vad/webrtc-vad.ts';
import { speechFixture } from './speech-fixture.ts';

/** WebRTC's verdict on each whole frame of samples. */
function verdicts(vad: WebRtcVad, samples: Float32Array): boolean[] {
  const out: boolean[] = [];
  for (let at = 0; at + vad.frameSamples <= samples.length; at += vad.frameSamples) {
    out.push(vad.isSpeech(samples.subarray(at, at + vad.frameSamples)));
  }
  return out;
}

const share = (flags: boolean[]) => flags.filter(Boolean).length / flags.length;

describe('WebRtcVad', () => {
  const jfk = speechFixture('jfk.wav');

  test('takes 30 ms frames', async () => {
    const vad = await WebRtcVad.create(3);
    assert.equal(vad.frameSamples, 480);
    assert.throws(() => vad.isSpeech(new Float32Array(512)), /480 samples/);
    vad.dispose();
  });

  test('hears speech in much of a speech clip, in every mode', async () => {
    for (const mode of [0, 1, 2, 3] as const) {
      const vad = await WebRtcVad.create(mode);
      const voiced = share(verdicts(vad, jfk));
      assert.ok(voiced > 0.5, `mode ${mode}: ${voiced} of frames voiced`);
      vad.dispose();
    }
  });

  test('hears nothing in digital silence', async () => {
    const vad = await WebRtcVad.create(0);
    assert.equal(share(verdicts(vad, new Float32Array(16000 * 5))), 0);
    vad.dispose();
  });

  test('higher modes flag no more than lower ones', async () => {
    const shares: number[] = [];
    for (const mode of [0, 1, 2, 3] as const) {
      const vad = await WebRtcVad.create(mode);
      shares.push(share(verdicts(vad, jfk)));
      vad.dispose();
    }
    console.log(`WebRtcVad: share of jfk.wav frames voiced by mode 0..3: ${shares.map((x) => x.toFixed(2))}`);
    for (let m = 1; m < 4; m++) assert.ok(shares[m] <= shares[m - 1], `shares by mode: ${shares}`);
  });

  test('clips out-of-range samples instead of wrapping them', async () => {
    const loud = jfk.map((x) => x * 4);
    const clipped = loud.map((x) => Math.max(-1, Math.min(1, x)));
    const [a, b] = [await WebRtcVad.create(3), await WebRtcVad.create(3)];
    assert.deepEqual(verdicts(a, loud), verdicts(b, clipped));
    a.dispose();
    b.dispose();
  });

  test('instances keep separate state', async () => {
    const alone = async (mode: WebRtcMode) => {
      const vad = await WebRtcVad.create(mode);
      const out = verdicts(vad, jfk);
      vad.dispose();
      return out;
    };
    const [expect0, expect3] = [await alone(0), await alone(3)];
    const [a, b] = [await WebRtcVad.create(0), await WebRtcVad.create(3)];
    const got0: boolean[] = [];
    const got3: boolean[] = [];
    for (let at = 0; at + 480 <= jfk.length; at += 480) {
      const frame = jfk.subarray(at, at + 480);
      got0.push(a.isSpeech(frame));
      got3.push(b.isSpeech(frame));
    }
    assert.deepEqual(got0, expect0);
    assert.deepEqual(got3, expect3);
    a.dispose();
    b.dispose();
  });

  test('reset() starts over with the same mode and rate', async () => {
    const vad = await WebRtcVad.create(3);
    const first = verdicts(vad, jfk);
    vad.reset();
    assert.deepEqual(verdicts(vad, jfk), first);
    vad.dispose();
  });

  test('refuses use after dispose(); dispose() is idempotent', async () => {
    const vad = await WebRtcVad.create(3);
    vad.dispose();
    vad.dispose();
    assert.throws(() => vad.isSpeech(new Float32Array(480)), /after dispose/);
    assert.throws(() => vad.reset(), /after dispose/);
  });

  test('rejects sample rates libfvad does not take', async () => {
    await assert.rejects(WebRtcVad.create(3, 22050), /sample rate/);
  });

  test('creating and disposing 50 at a time does not grow wasm memory', async () => {
    const wasm = await fvadModule();
    const cycle = async () => {
      const vads = await Promise.all(Array.from({ length: 50 }, () => WebRtcVad.create(3)));
      for (const vad of vads) vad.isSpeech(jfk.subarray(0, 480));
      for (const vad of vads) vad.dispose();
    };
    await cycle();
    const heapBytes = wasm.HEAPU8.length;
    // 400 rounds leak about 30 MB if nothing is freed, well past the 16 MB initial heap.
    for (let round = 0; round < 400; round++) await cycle();
    assert.equal(wasm.HEAPU8.length, heapBytes);
  });
});
