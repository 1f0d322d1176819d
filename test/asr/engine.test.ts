import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AsrEngine } from '../../src/asr/engine.ts';
import { loadEngine } from '../../src/asr/load-engine.ts';
import { wer } from '../../eval/wer.ts';
import { clipSamples } from '../../eval/conversation.ts';
import { SPEECH_CLIPS, clip } from '../../eval/speech.ts';

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

    it('continues a given prefix: read in one call (prefix graph) or step by step (pinned graph), the same text', async () => {
      const withPrefixes = await loadEngine(model, { prefixes: true });
      try {
        const samples = clipSamples(clip('jfk.wav'));
        const free = await engine.transcribe(samples);
        assert.deepEqual((await withPrefixes.transcribe(samples)).tokens, free.tokens);
        for (const e of [engine, withPrefixes]) {
          // greedy decoding after its own first tokens ends where decoding from the start did
          assert.deepEqual((await e.transcribe(samples, { prefix: free.tokens!.slice(0, 7) })).tokens, free.tokens);
          // a prefix the model would not have chosen is kept, and the rest still follows the audio
          const forced = await e.transcribe(samples, { prefix: free.tokens!.slice(2, 4) });
          assert.deepEqual(forced.tokens!.slice(0, 2), free.tokens!.slice(2, 4));
          assert.match(forced.text, /your country/);
        }
      } finally {
        await withPrefixes.dispose();
      }
    });

    it('checks a draft in the prefix call: the tokens it agrees with are kept, the rest decoded as before', async () => {
      const withPrefixes = await loadEngine(model, { prefixes: true });
      try {
        const samples = clipSamples(clip('jfk.wav'));
        const free = (await withPrefixes.transcribe(samples)).tokens!;
        const wrong = [free[7]!, free[8]!, ...free.slice(2, 6)]; // right for two tokens, then off
        for (const e of [withPrefixes, engine]) {
          // (the pinned graph reads one token per call: it decodes as without a draft)
          assert.deepEqual((await e.transcribe(samples, { draft: free })).tokens, free, 'its own tokens, whole');
          assert.deepEqual((await e.transcribe(samples, { prefix: free.slice(0, 7), draft: free.slice(7) })).tokens, free, 'after a prefix');
          assert.deepEqual((await e.transcribe(samples, { prefix: free.slice(0, 7), draft: wrong })).tokens, free, 'a draft that goes wrong');
          assert.deepEqual((await e.transcribe(samples, { draft: [...free, ...free] })).tokens, free, 'one longer than the text');
        }
      } finally {
        await withPrefixes.dispose();
      }
    });

    it('stops decoding when aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(engine.transcribe(clipSamples(clip('jfk.wav')), { signal: controller.signal }), { name: 'AbortError' });
    });
  });
}
