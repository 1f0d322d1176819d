import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { fvadModule } from '../../src/vad/fvad-module.ts';
import { SileroModel } from '../../src/vad/silero-vad.ts';
import { VoiceActivityDetector, type VadOptions, type VadWindow } from '../../src/vad/voice-activity-detector.ts';
import { sileroModelPath } from './model-path.ts';
import { concat, whiteNoise } from './signals.ts';
import { speechFixture } from './speech-fixture.ts';

describe('VoiceActivityDetector', () => {
  let model: SileroModel;
  const second = 16000;
  // Silence, speech, faint noise, speech again: the gate closes and reopens.
  const audio = concat(
    new Float32Array(second),
    speechFixture('jfk.wav'),
    whiteNoise(2 * second, 0.003, 1),
    speechFixture('goforward.wav'),
    new Float32Array(second),
  );
  const create = (options?: VadOptions) => VoiceActivityDetector.create(model, options);

  async function inChunks(detector: VoiceActivityDetector, samples: Float32Array, sizes: number[]): Promise<VadWindow[]> {
    const out: VadWindow[] = [];
    for (let at = 0, i = 0; at < samples.length; i++) {
      const size = sizes[i % sizes.length];
      out.push(...(await detector.process(samples.subarray(at, at + size))));
      at += size;
    }
    return out;
  }

  let whole: VadWindow[];
  before(async () => {
    model = await SileroModel.load(sileroModelPath);
    const detector = await create();
    whole = await detector.process(audio);
    detector.dispose();
  });
  after(async () => {
    await model.dispose();
  });

  test('reports every 512-sample window, numbered by its end', () => {
    assert.equal(whole.length, Math.floor(audio.length / 512));
    whole.forEach((w, i) => assert.equal(w.endSample, (i + 1) * 512));
  });

  test('hears both utterances and nothing in the silence around them', () => {
    const speechIn = (from: number, to: number) =>
      whole.filter((w) => w.speech && w.endSample > from * second && w.endSample <= to * second).length;
    assert.equal(speechIn(0, 1), 0);
    assert.ok(speechIn(1, 12) > 150, `${speechIn(1, 12)} speech windows in jfk.wav`);
    assert.equal(speechIn(12.3, 13.8), 0);
    assert.ok(speechIn(14, 16.7) > 40, `${speechIn(14, 16.7)} speech windows in goforward.wav`);
    assert.equal(speechIn(16.9, 18), 0);
    const ran = whole.filter((w) => w.probability > 0).length;
    console.log(
      `VoiceActivityDetector: ${whole.filter((w) => w.speech).length} speech windows of ${whole.length}; ` +
        `Silero ran on ${ran} (${((ran / whole.length) * 100).toFixed(0)}%)`,
    );
  });

  test('skips Silero in silence once warmed up', () => {
    const silent = whole.filter((w) => w.endSample <= second);
    assert.ok(silent.slice(0, 10).every((w) => w.probability > 0), 'Silero warms up on the first 10 windows');
    assert.ok(silent.slice(10).every((w) => !w.webrtc && w.probability === 0 && !w.speech));
  });

  test('agrees with Silero run on every window', async () => {
    const stream = model.createStream();
    let agree = 0;
    for (const w of whole) {
      const p = await stream.probability(audio.subarray(w.endSample - 512, w.endSample));
      if (p > 0.6 === w.speech) agree++;
    }
    console.log(`VoiceActivityDetector: agrees with ungated Silero on ${((agree / whole.length) * 100).toFixed(1)}% of windows`);
    assert.ok(agree / whole.length > 0.97);
  });

  test("every speech verdict is Silero's, under the threshold it was given", async () => {
    for (const w of whole) assert.equal(w.speech, w.probability > 0.6);
    const strict = await create({ sileroSensitivity: 0.1 });
    const results = await strict.process(audio);
    strict.dispose();
    for (const w of results) assert.equal(w.speech, w.probability > 0.9);
    assert.ok(results.filter((w) => w.speech).length < whole.filter((w) => w.speech).length);
  });

  test('keeps Silero running through the end of speech', () => {
    // After each speech window Silero judges at least the next three, whatever WebRTC says.
    const ends = whole.flatMap((w, i) => (w.speech && !whole[i + 1]?.speech && i + 3 < whole.length ? [i] : []));
    assert.ok(ends.length >= 2, `the audio has ends of speech to check (${ends.length})`);
    for (const i of ends) {
      for (const next of whole.slice(i + 1, i + 4)) assert.ok(next.probability > 0, `window ending at ${next.endSample} was skipped`);
    }
  });

  test('measures energy in dBFS', async () => {
    const detector = await create();
    const square = new Float32Array(1024).map((_, i) => (i % 32 < 16 ? 0.5 : -0.5));
    const [silent, half] = await detector.process(concat(new Float32Array(512), square.subarray(0, 512)));
    detector.dispose();
    assert.equal(silent.energyDb, -100);
    assert.ok(Math.abs(half.energyDb - 20 * Math.log10(0.5)) < 1e-6, `${half.energyDb}`);
  });

  test('gives the same windows whatever the chunk sizes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 50 }), async (sizes) => {
        const detector = await create();
        const chunked = await inChunks(detector, audio, sizes);
        detector.dispose();
        assert.deepEqual(chunked, whole);
      }),
      { numRuns: 8, seed: 42 },
    );
  });

  test('reset() starts over as a new stream, also mid-window and mid-call', async () => {
    const detector = await create();
    await detector.process(audio.subarray(0, 5 * second + 100));
    detector.reset();
    assert.deepEqual(await detector.process(audio), whole);
    const pending = detector.process(audio);
    detector.reset();
    assert.ok((await pending).length < whole.length);
    assert.deepEqual(await detector.process(audio), whole);
    detector.dispose();
  });

  test('rejects overlapping calls', async () => {
    const detector = await create();
    const pending = detector.process(audio.subarray(0, 2 * second));
    await assert.rejects(detector.process(audio.subarray(0, 512)), /before the previous call settled/);
    await pending;
    detector.dispose();
  });

  test('dispose() during a call ends it; later use is refused', async () => {
    const detector = await create();
    const pending = detector.process(audio);
    detector.dispose();
    assert.ok((await pending).length < whole.length);
    await assert.rejects(detector.process(audio), /after dispose/);
    assert.throws(() => detector.reset(), /after dispose/);
    detector.dispose();
  });

  test('rejects a sensitivity outside 0..1', async () => {
    await assert.rejects(create({ sileroSensitivity: 1.5 }), RangeError);
  });

  test('50 sessions at a time come and go without growing wasm memory', async () => {
    const wasm = await fvadModule();
    const clip = audio.subarray(second, 3 * second);
    const cycle = async (work: boolean) => {
      const detectors = await Promise.all(Array.from({ length: 50 }, () => create()));
      if (work) await Promise.all(detectors.map((d) => d.process(clip)));
      for (const d of detectors) d.dispose();
    };
    await cycle(true);
    const heapBytes = wasm.HEAPU8.length;
    await cycle(true);
    for (let round = 0; round < 400; round++) await cycle(false);
    assert.equal(wasm.HEAPU8.length, heapBytes);
  });
});
