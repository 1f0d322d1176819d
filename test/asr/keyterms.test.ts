import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HUNDRED_KEYTERMS } from '../../eval/keyterm-dev-set.ts';
import { CrossCheckEngine } from '../../src/asr/cross-check-engine.ts';
import { compileKeyterms, KeytermError, parseKeyterm, parseKeyterms, promptKeyterms } from '../../src/asr/keyterms.ts';
import { loadEngine } from '../../src/asr/load-engine.ts';
import type { MoonshineEngine } from '../../src/asr/moonshine-engine.ts';
import { clipSamples } from '../../eval/conversation.ts';
import { clip } from '../../eval/speech.ts';

const badKeyterms = (term?: string) => (e: unknown) => e instanceof KeytermError && e.code === 'BAD_KEYTERMS' && e.term === term;

describe('keyterm lists: parsing and limits', () => {
  it('takes "word" and Deepgram\'s "word:weight", trimmed', () => {
    assert.deepEqual(parseKeyterm('  Dashwood '), { text: 'Dashwood', weight: 1 });
    assert.deepEqual(parseKeyterm('clubs:2'), { text: 'clubs', weight: 2 });
    assert.deepEqual(parseKeyterm('AI  SDK : -1.5'), { text: 'AI SDK', weight: -1.5 });
    assert.deepEqual(parseKeyterm('10:30'), { text: '10:30', weight: 1 }, 'a time, not a weight');
  });

  it('refuses, naming the term: empty, over 50 characters, a control character, a weight beyond 10', () => {
    assert.throws(() => parseKeyterm('  '), badKeyterms('  '));
    const long = 'x'.repeat(51);
    assert.throws(() => parseKeyterm(long), badKeyterms(long));
    assert.throws(() => parseKeyterm('a\u0007b'), badKeyterms('a\u0007b'));
    assert.throws(() => parseKeyterm('clubs:11'), badKeyterms('clubs'));
  });

  it('refuses over 100 terms, over 500 tokens, and a term the vocabulary cannot spell', async () => {
    assert.equal(parseKeyterms(HUNDRED_KEYTERMS).length, 100);
    assert.throws(() => parseKeyterms([...HUNDRED_KEYTERMS, 'one more']), badKeyterms(undefined));
    assert.throws(() => parseKeyterms([3]), badKeyterms(undefined));
    assert.ok((await compileKeyterms(parseKeyterms(HUNDRED_KEYTERMS))).length > 100, 'the spellings of the full list');
    // Over 12 tokens each: 45 of them pass 500.
    const many = Array.from({ length: 45 }, (_, i) => `Przybylski Okonkwo Raghunathan ${i}`);
    await assert.rejects(compileKeyterms(parseKeyterms(many)), (e) => e instanceof KeytermError && /500 tokens/.test(e.message) && !!e.term);
    await assert.rejects(compileKeyterms(parseKeyterms(['clubs', 'smile 😀'])), badKeyterms('smile 😀'));
  });
});

describe('OpenAI\'s prompt as keyterms', () => {
  it('keeps names, words with digits or inner capitals and uncommon words, once each, in order', () => {
    const words = (prompt: string) => promptKeyterms(prompt).map((k) => k.text);
    assert.deepEqual(words('A card game: the suits are clubs, spades, hearts and diamonds.'), ['card', 'game', 'suits', 'clubs', 'spades', 'hearts', 'diamonds']);
    assert.deepEqual(words('The following transcript is about Dr. Przybylski, an iPhone and RJ45 cables. Cables!'), ['Przybylski', 'iPhone', 'RJ45', 'cables']);
    assert.equal(promptKeyterms(Array.from({ length: 300 }, (_, i) => `word${i}`).join(' ')).length, 100);
    assert.deepEqual(promptKeyterms(undefined), []);
  });
});

describe('decoding toward keyterms (real models, real speech)', () => {
  let base: MoonshineEngine;
  let tiny: MoonshineEngine;
  before(async () => {
    [base, tiny] = await Promise.all([loadEngine('moonshine-base'), loadEngine('moonshine-tiny')]);
  });
  after(() => Promise.all([base.dispose(), tiny.dispose()]));

  it('a word the model misreads comes out right with its keyterm, and not without', async () => {
    const samples = clipSamples(clip('cards-002.wav'));
    assert.match((await base.transcribe(samples)).text, /of cloves/i);
    const biased = await base.transcribe(samples, { keyterms: await compileKeyterms(parseKeyterms(['clubs'])) });
    assert.match(biased.text, /^Four queen of clubs\.?$/i);
    assert.equal(biased.keyterms, 1);
  });

  it('a weight above 1 reaches a word the default bonus does not', async () => {
    const samples = clipSamples(clip('cards-001.wav'));
    assert.match((await base.transcribe(samples, { keyterms: await compileKeyterms(parseKeyterms(['clubs'])) })).text, /of cloves/i);
    assert.match((await base.transcribe(samples, { keyterms: await compileKeyterms(parseKeyterms(['clubs:2'])) })).text, /^Ten of clubs\.?$/i);
  });

  it('the tiny/base cross-check decodes and compares under the same bias: it keeps the keyterm', async () => {
    const engine = new CrossCheckEngine(base, tiny);
    const keyterms = await compileKeyterms(parseKeyterms(['clubs']));
    for (const file of ['cards-001.wav', 'cards-002.wav']) {
      const checked = await engine.transcribe(clipSamples(clip(file)), { crossCheck: true, keyterms });
      assert.match(checked.text, /of clubs/i, file);
    }
  });

  it('a partial checks its draft by the biased choice: the same text as decoding step by step', async () => {
    const prefilled = await loadEngine('moonshine-tiny', { prefixes: true });
    try {
      const keyterms = await compileKeyterms(parseKeyterms(['clubs:2', 'Dashwood']));
      for (const file of ['cards-002.wav', 'sense_and_sensibility_01_austen_64kb-0870.wav']) {
        const heard = await prefilled.encode(clipSamples(clip(file)));
        const stepped = await heard.decode(1, [], [], keyterms, 0);
        const prefix = stepped.tokens.slice(0, 2);
        const right = await heard.decode(1, prefix, stepped.tokens.slice(2), keyterms, 0);
        assert.equal(right.text, stepped.text, file);
        const wrong = stepped.tokens.slice(2).map((t, i) => (i === 1 ? t + 1 : t));
        assert.equal((await heard.decode(1, prefix, wrong, keyterms, 0)).text, stepped.text, `${file}, a draft wrong from its second token`);
      }
    } finally {
      await prefilled.dispose();
    }
  });

  it('a hundred keyterms insert nothing into dev clips that hold none of them', async () => {
    const keyterms = await compileKeyterms(parseKeyterms(HUNDRED_KEYTERMS));
    for (const file of ['jfk.wav', 'goforward.wav', 'cards-004.wav', 'sense_and_sensibility_01_austen_64kb-0880.wav', 'sense_and_sensibility_01_austen_64kb-0890.wav']) {
      const samples = clipSamples(clip(file));
      const plain = await base.transcribe(samples);
      const biased = await base.transcribe(samples, { keyterms });
      assert.equal(biased.text, plain.text, file);
      assert.equal(biased.keyterms, 0, file);
    }
  });
});
