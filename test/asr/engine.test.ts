import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AsrEngine } from '../../src/asr/engine.ts';
import { loadEngine } from '../../src/asr/load-engine.ts';
import { wer } from '../../bench/wer.ts';
import { clipSamples } from '../fixtures/conversation.ts';
import { SPEECH_CLIPS, clip } from '../fixtures/speech.ts';

for (const model of ['moonshine-tiny', 'moonshine-base']) {
  describe(`${model} engine (real model, real speech)`, () => {
    let engine: AsrEngine;
    before(async () => {
      engine = await loadEngine(model);
    });
    after(() => engine.dispose());

    it('transcribes the speech fixtures with WER ≤ 5 %', async () => {
      const pairs = [];
      for (const c of SPEECH_CLIPS) pairs.push({ reference: c.text, hypothesis: (await engine.transcribe(clipSamples(c))).text });
      const result = wer(pairs);
      assert.ok(result.wer <= 0.05, `WER ${(result.wer * 100).toFixed(1)} % (${result.errors}/${result.words}): ${JSON.stringify(pairs)}`);
    });

    it('gives the same text for overlapping calls as for one at a time', async () => {
      const a = clipSamples(clip('goforward.wav'));
      const b = clipSamples(clip('cards-001.wav'));
      const [ra, rb] = await Promise.all([engine.transcribe(a), engine.transcribe(b)]);
      assert.equal(ra.text, (await engine.transcribe(a)).text);
      assert.equal(rb.text, (await engine.transcribe(b)).text);
    });

    it('returns nothing for under 0.1 s of audio and refuses more than 30 s', async () => {
      assert.equal((await engine.transcribe(new Float32Array(800))).text, '');
      await assert.rejects(engine.transcribe(new Float32Array(16000 * 31)), RangeError);
    });

    it('stops decoding when aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(engine.transcribe(clipSamples(clip('jfk.wav')), { signal: controller.signal }), { name: 'AbortError' });
    });
  });
}
