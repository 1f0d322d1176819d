import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CONDITIONS, noisyDevSet } from '../../eval/noisy-dev-set.ts';
import { wer } from '../../eval/wer.ts';
import { whenIdle } from '../../src/asr/cross-check-budget.ts';
import { CrossCheckEngine } from '../../src/asr/cross-check-engine.ts';
import { meanLogProb, type AsrEngine } from '../../src/asr/engine.ts';
import { EnginePool } from '../../src/asr/engine-pool.ts';
import { loadEngine } from '../../src/asr/load-engine.ts';
import type { MoonshineEngine } from '../../src/asr/moonshine-engine.ts';
import { ModelStore } from '../../src/models/store.ts';
import { clipSamples } from '../../eval/conversation.ts';
import { SPEECH_CLIPS, clip } from '../../eval/speech.ts';

/** Log-probabilities summed in float32 steps by onnxruntime and in float64 here: equal to a few thousandths. */
const close = (a: number, b: number) => Math.abs(a - b) < 1e-3 * Math.max(1, Math.abs(a));
const words = (text: string) => text.split(/\s+/).filter(Boolean).length;
const BABBLE_0_DB = CONDITIONS.find((c) => c.name === 'babble 0 dB')!;

describe('decoding with scores (real models, real speech)', () => {
  let base: MoonshineEngine;
  let tiny: MoonshineEngine;
  before(async () => {
    [base, tiny] = await Promise.all([loadEngine('moonshine-base'), loadEngine('moonshine-tiny')]);
  });
  after(() => Promise.all([base.dispose(), tiny.dispose()]));

  it('a greedy hypothesis carries its tokens and a score that forced decoding of those tokens reproduces', async () => {
    const heard = await base.encode(clipSamples(clip('goforward.wav')));
    const greedy = await heard.decode();
    assert.equal(greedy.text, (await base.transcribe(clipSamples(clip('goforward.wav')))).text);
    assert.equal(greedy.score.tokens, greedy.tokens.length + 1);
    assert.ok(greedy.score.logProb < 0 && Number.isFinite(greedy.score.logProb));
    const forced = await heard.score(greedy.tokens);
    assert.ok(close(forced.logProb, greedy.score.logProb), `${forced.logProb} vs ${greedy.score.logProb}`);
    // The same words backwards are not what was said.
    assert.ok((await heard.score([...greedy.tokens].reverse())).logProb < greedy.score.logProb - 10);
  });

  it('scoring after a greedy decode resumes from the tokens they share, with the score from scratch exactly', async () => {
    const samples = clipSamples(clip('sense_and_sensibility_01_austen_64kb-0880.wav'));
    const decodedFirst = await base.encode(samples);
    const greedy = await decodedFirst.decode();
    const other = (await tiny.transcribe(samples)).tokens!;
    const fromScratch = () => base.encode(samples);
    for (const tokens of [other, greedy.tokens, greedy.tokens.slice(0, 3), [...greedy.tokens.slice(0, -2), 29871, ...greedy.tokens.slice(-2)], [5, 6, 7]]) {
      assert.deepEqual(await decodedFirst.score(tokens), await (await fromScratch()).score(tokens), tokens.join(' '));
    }
  });

  it('models with one vocabulary score each other\'s hypotheses', async () => {
    const samples = clipSamples(clip('sense_and_sensibility_01_austen_64kb-0880.wav'));
    const ours = await (await base.encode(samples)).decode();
    const byTiny = await (await tiny.encode(samples)).score(ours.tokens);
    assert.ok(Number.isFinite(byTiny.logProb) && byTiny.logProb < 0);
    assert.equal(byTiny.tokens, ours.tokens.length + 1);
  });

  it('beam search: width 1 is greedy; wider beams keep the fixtures\' WER and score what they return', async () => {
    const samples = clipSamples(clip('sense_and_sensibility_01_austen_64kb-0890.wav'));
    const heard = await base.encode(samples);
    assert.deepEqual(await heard.decode(1), await heard.decode());
    const beam = await heard.decode(3);
    assert.ok(close((await heard.score(beam.tokens)).logProb, beam.score.logProb));
    const pairs = [];
    for (const c of SPEECH_CLIPS) pairs.push({ reference: c.text, hypothesis: (await base.transcribe(clipSamples(c), { beams: 3 })).text });
    assert.ok(wer(pairs).wer <= 0.05, JSON.stringify(pairs));
  });

  it('refuses a beam width outside 1-7', async () => {
    const samples = clipSamples(clip('goforward.wav'));
    await assert.rejects(base.transcribe(samples, { beams: 0 }), RangeError);
    await assert.rejects(base.transcribe(samples, { beams: 8 }), RangeError);
    await assert.rejects(base.transcribe(samples, { beams: 1.5 }), RangeError);
  });

  it('cross-check: agreeing models give the main model\'s text; where they differ the likelier to both wins', async () => {
    const engine = new CrossCheckEngine(base, tiny);
    const verdicts = new Set<string>();
    for (const c of SPEECH_CLIPS) {
      const samples = clipSamples(c);
      const t = await engine.transcribe(samples, { crossCheck: true });
      assert.equal(t.model, 'moonshine-base');
      const [b, s] = [await base.encode(samples), await tiny.encode(samples)];
      const [ours, theirs] = [await b.decode(), await s.decode()];
      const both = async (tokens: number[]) => ((await b.score(tokens)).logProb + (await s.score(tokens)).logProb) / (tokens.length + 1);
      const longer = words(theirs.text) > words(ours.text);
      const expected = ours.tokens.join() === theirs.tokens.join() ? 'agreed' : !longer && (await both(theirs.tokens)) > (await both(ours.tokens)) ? 'replaced' : 'kept';
      assert.equal(t.crossCheck, expected, c.file);
      assert.equal(t.text, expected === 'replaced' ? theirs.text : ours.text, c.file);
      assert.ok(meanLogProb(t.score!) < 0);
      verdicts.add(expected);
    }
    // The fixtures hold both cases: clean read sentences the models agree on, card names they do not.
    assert.ok(verdicts.has('agreed') && verdicts.size > 1, [...verdicts].join());
  });

  it('cross-check: the check model may not add words, however likely both find them (other talkers, loops)', async () => {
    // Under 0 dB babble tiny loops ("I'm sorry. I'm sorry. ..."): cheap per token, so both models prefer it per token.
    const [noisy] = noisyDevSet(BABBLE_0_DB, [clip('sense_and_sensibility_01_austen_64kb-0890.wav')]);
    const samples = noisy!.samples;
    const [b, s] = [await base.encode(samples), await tiny.encode(samples)];
    const [ours, theirs] = [await b.decode(), await s.decode()];
    const both = async (tokens: number[]) => ((await b.score(tokens)).logProb + (await s.score(tokens)).logProb) / (tokens.length + 1);
    assert.ok(words(theirs.text) > words(ours.text) && (await both(theirs.tokens)) > (await both(ours.tokens)), `${ours.text} | ${theirs.text}`);
    const t = await new CrossCheckEngine(base, tiny).transcribe(samples, { crossCheck: true });
    assert.equal(t.crossCheck, 'kept');
    assert.equal(t.text, ours.text);
  });
});

describe('decoding options through the worker pool (real models)', () => {
  it('carries the beam width and the cross-check to the worker and the scores back', async () => {
    const store = new ModelStore();
    const tinyDir = await store.require('moonshine-tiny');
    const pool = await EnginePool.start({
      workers: [[{ name: 'moonshine-base', dir: await store.require('moonshine-base'), checkWith: { name: 'moonshine-tiny', dir: tinyDir } }, { name: 'moonshine-tiny', dir: tinyDir }]],
      threads: 1,
    });
    const direct = await loadEngine('moonshine-tiny');
    try {
      const samples = clipSamples(clip('sense_and_sensibility_01_austen_64kb-0870.wav'));
      const pooled = await pool.engine('moonshine-tiny').transcribe(samples, { beams: 3 });
      const local = await direct.transcribe(samples, { beams: 3 });
      assert.equal(pooled.text, local.text);
      assert.deepEqual(pooled.tokens, local.tokens);
      assert.ok(close(pooled.score!.logProb, local.score!.logProb));
      assert.ok((await pool.engine('moonshine-base').transcribe(samples, { crossCheck: true })).crossCheck);
      assert.equal((await pool.engine('moonshine-base').transcribe(samples)).crossCheck, undefined, 'only when asked');
    } finally {
      await Promise.all([pool.dispose(), direct.dispose()]);
    }
  });

  it("runs a worker's check model alone (a late final on the final model's worker), only on that worker", async () => {
    const store = new ModelStore();
    const pool = await EnginePool.start({
      workers: [[{ name: 'moonshine-base', dir: await store.require('moonshine-base'), checkWith: { name: 'moonshine-tiny', dir: await store.require('moonshine-tiny') } }]],
      threads: 1,
    });
    const direct = await loadEngine('moonshine-tiny');
    try {
      const [worker] = pool.workers;
      assert.deepEqual(worker!.checkModels, ['moonshine-tiny']);
      const samples = clipSamples(clip('jfk.wav'));
      const alone = await worker!.engine('moonshine-tiny').transcribe(samples);
      assert.equal(alone.model, 'moonshine-tiny');
      assert.deepEqual(alone.tokens, (await direct.transcribe(samples)).tokens);
      assert.throws(() => pool.engine('moonshine-tiny'), /not in the pool/);
    } finally {
      await Promise.all([pool.dispose(), direct.dispose()]);
    }
  });
});

describe('cross-check budget', () => {
  const asked: Array<boolean | undefined> = [];
  const engine: AsrEngine = {
    name: 'fake',
    maxAudioSeconds: 30,
    transcribe: async (samples, options) => {
      asked.push(options?.crossCheck);
      return { text: '', model: 'fake', audioSeconds: samples.length / 16000, processingMs: 0 };
    },
    dispose: async () => {},
  };

  it('asks for the cross-check on an idle worker, not while other finals wait, always where told', async () => {
    let waiting = 0;
    const budgeted = whenIdle(engine, () => waiting);
    await budgeted.transcribe(new Float32Array(16000));
    waiting = 2;
    await budgeted.transcribe(new Float32Array(16000));
    await whenIdle(engine, () => waiting, true).transcribe(new Float32Array(16000));
    assert.deepEqual(asked, [true, false, true]);
  });
});
