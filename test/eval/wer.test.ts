import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { normalizeWords, wer } from '../../eval/wer.ts';

describe('WER normalizer (eval/wer.ts)', () => {
  it('counts a number written in digits or in words alike, under 100', () => {
    assert.deepEqual(normalizeWords('Go forward 10 meters.'), ['go', 'forward', 'ten', 'meters']);
    assert.deepEqual(normalizeWords('42, 7 and 90'), ['forty', 'two', 'seven', 'and', 'ninety']);
    assert.equal(wer([{ reference: 'ten of clubs', hypothesis: '10 of clubs' }]).wer, 0);
    assert.deepEqual(normalizeWords('In 1990'), ['in', '1990'], 'larger numbers are read in several ways: left as written');
  });

  it('lowercases, drops punctuation, splits hyphens, spells abbreviations and British words the American way', () => {
    assert.deepEqual(normalizeWords('Mr. Dashwood, ill-disposed, favourite colour!'), ['mister', 'dashwood', 'ill', 'disposed', 'favorite', 'color']);
  });
});
