import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PrefixAgreement } from '../../src/recorder/agreed-prefix.ts';

describe('partials agreeing on a prefix', () => {
  it('agrees with a partial at least the span earlier, less the last token they share', () => {
    const a = new PrefixAgreement(100);
    a.push(100, [1, 2, 3]);
    assert.deepEqual(a.prefix, []); // nothing old enough yet
    a.push(150, [9, 9, 9, 9]); // 50 samples later: too close to agree with
    assert.deepEqual(a.prefix, []);
    a.push(210, [1, 2, 3, 4, 5]); // agrees with the first on [1, 2, 3]
    assert.deepEqual(a.prefix, [1, 2]);
    a.push(240, [1, 2, 3, 4, 6]); // the first is still the latest partial old enough
    assert.deepEqual(a.prefix, [1, 2]);
    a.push(260, [9, 9, 9, 9, 9, 9]); // now the second (at 150) is: it agrees on [9, 9, 9, 9]
    assert.deepEqual(a.prefix, [9, 9, 9]);
  });

  it('offers the latest partial\'s tokens after the prefix as the next one\'s draft', () => {
    const a = new PrefixAgreement(100);
    assert.deepEqual(a.draft, []);
    a.push(100, [1, 2, 3]);
    assert.deepEqual(a.draft, [1, 2, 3]); // no prefix yet: all of it
    a.push(210, [1, 2, 3, 4, 5]);
    assert.deepEqual([a.prefix, a.draft], [[1, 2], [3, 4, 5]]);
    a.reset();
    assert.deepEqual(a.draft, []);
  });

  it('starts over when reset', () => {
    const a = new PrefixAgreement(10);
    a.push(0, [1, 2, 3]);
    a.push(20, [1, 2, 3]);
    assert.deepEqual(a.prefix, [1, 2]);
    a.reset();
    assert.deepEqual(a.prefix, []);
    a.push(40, [1, 2, 3]);
    assert.deepEqual(a.prefix, []);
  });
});
