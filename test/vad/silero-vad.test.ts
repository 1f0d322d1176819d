import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { SileroModel, type SileroStream } from '../../src/vad/silero-vad.ts';
import { sileroModelPath } from './model-path.ts';
import { whiteNoise } from './signals.ts';
import { speechFixture } from './speech-fixture.ts';

async function probabilities(stream: SileroStream, samples: Float32Array): Promise<number[]> {
  const out: number[] = [];
  for (let at = 0; at + 512 <= samples.length; at += 512) out.push(await stream.probability(samples.subarray(at, at + 512)));
  return out;
}

function energyDb(samples: Float32Array): number {
  let sum = 0;
  for (const x of samples) sum += x * x;
  return 10 * Math.log10(sum / samples.length + 1e-12);
}

describe('SileroModel', () => {
  let model: SileroModel;
  const jfk = speechFixture('jfk.wav');
  before(async () => {
    model = await SileroModel.load(sileroModelPath);
  });
  after(async () => {
    await model.dispose();
  });

  test('scores speech high', async () => {
    const p = await probabilities(model.createStream(), jfk);
    // Loud windows are speech in this clip; quiet ones are pauses between phrases.
    const loud = p.filter((_, i) => energyDb(jfk.subarray(i * 512, (i + 1) * 512)) > -35);
    const loudShare = loud.filter((x) => x > 0.5).length / loud.length;
    const share = p.filter((x) => x > 0.5).length / p.length;
    console.log(`Silero on jfk.wav: ${(share * 100).toFixed(0)}% of all windows and ${(loudShare * 100).toFixed(0)}% of windows above -35 dBFS score > 0.5`);
    assert.ok(loudShare > 0.85, `${loudShare} of loud windows > 0.5`);
    assert.ok(share > 0.5, `${share} of windows > 0.5`);
  });

  test('scores digital silence low', async () => {
    const p = await probabilities(model.createStream(), new Float32Array(16000 * 5));
    assert.ok(Math.max(...p) < 0.1, `max ${Math.max(...p)}`);
  });

  test('scores white noise low', async () => {
    for (const seed of [1, 2, 3]) {
      const p = await probabilities(model.createStream(), whiteNoise(16000 * 10, 0.1, seed));
      const flagged = p.filter((x) => x >= 0.1).length;
      console.log(`Silero on 10 s of white noise ±0.1 (seed ${seed}): max ${Math.max(...p).toFixed(3)}, ${flagged}/${p.length} windows ≥ 0.1`);
      assert.equal(flagged, 0);
    }
  });

  test('streams running at once keep their own state, their windows scored in one batched run', async () => {
    const noise = whiteNoise(jfk.length, 0.1, 7);
    const [speechAlone, noiseAlone] = [await probabilities(model.createStream(), jfk), await probabilities(model.createStream(), noise)];
    const before = { ...model.stats };
    const [speechTogether, noiseTogether] = await Promise.all([
      probabilities(model.createStream(), jfk),
      probabilities(model.createStream(), noise),
    ]);
    assert.deepEqual(speechTogether, speechAlone);
    assert.deepEqual(noiseTogether, noiseAlone);
    assert.equal(model.stats.windows - before.windows, 2 * speechAlone.length);
    assert.equal(model.stats.runs - before.runs, speechAlone.length, 'one run for both streams\' windows');
  });

  test('reset() starts over as a new stream', async () => {
    const stream = model.createStream();
    const first = await probabilities(stream, jfk);
    stream.reset();
    assert.deepEqual(await probabilities(stream, jfk), first);
  });

  test("reset() while a window is scored discards that window's state", async () => {
    const stream = model.createStream();
    const pending = stream.probability(jfk.subarray(20 * 512, 21 * 512));
    stream.reset();
    await pending;
    assert.deepEqual(await probabilities(stream, jfk), await probabilities(model.createStream(), jfk));
  });

  test('skip() feeds the context but not the recurrent state', async () => {
    const speech = jfk.subarray(20 * 512, 22 * 512); // mid-word
    const [first, second] = [speech.subarray(0, 512), speech.subarray(512)];
    const scored = model.createStream();
    await scored.probability(first);
    const skipped = model.createStream();
    skipped.skip(first);
    const fresh = model.createStream();
    const [afterScored, afterSkip, alone] = [
      await scored.probability(second),
      await skipped.probability(second),
      await fresh.probability(second),
    ];
    assert.notEqual(afterSkip, alone, 'context from the skipped window is used');
    assert.notEqual(afterSkip, afterScored, 'state is not advanced by skip()');
  });

  test('rejects overlapping calls on one stream and wrong window sizes', async () => {
    const stream = model.createStream();
    const pending = stream.probability(jfk.subarray(0, 512));
    await assert.rejects(stream.probability(jfk.subarray(512, 1024)), /before the previous call settled/);
    await pending;
    await assert.rejects(stream.probability(new Float32Array(480)), /512 samples/);
  });
});
