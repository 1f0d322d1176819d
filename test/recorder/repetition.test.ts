import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { guardPartial } from '../../src/recorder/hallucination-guard.ts';
import { splitWords } from '../../src/asr/words.ts';
import { findRepetition, joinOverlapping, occurrences, withoutCopies } from '../../src/recorder/repetition.ts';

const words = splitWords;

describe('repetitions in a hypothesis (text only)', () => {
  it('finds runs, twice-said sentences and tail repeats; not everyday doubles', () => {
    assert.deepEqual(findRepetition(words('10 of cloves, ten of cloves, Ten of cloves. Go')), { start: 0, length: 3, count: 3, kind: 'run' });
    assert.deepEqual(findRepetition(words('Small children came to see him. Small children came to see him.')), { start: 0, length: 6, count: 2, kind: 'run' });
    assert.deepEqual(findRepetition(words('When you hear the bell, when you')), { start: 0, length: 2, count: 2, kind: 'tail' });
    assert.deepEqual(findRepetition(words('no, no, no!')), { start: 0, length: 1, count: 3, kind: 'run' });
    for (const ok of ['Five, five.', 'Thank you, thank you.', 'Go forward ten meters.', 'the cat and the dog']) assert.equal(findRepetition(words(ok)), undefined, ok);
  });

  it('joins a re-decode that overlaps the words before it', () => {
    assert.equal(joinOverlapping(words('Small children came to see'), words('to see him.')).join(' '), 'Small children came to see him.');
    assert.equal(joinOverlapping(words('Ten of clubs,'), words('go forward ten meters')).join(' '), 'Ten of clubs, go forward ten meters');
    assert.equal(occurrences(words('ten of clubs 10 of clubs ten of'), words('ten of clubs')), 2);
  });

  it('cuts the copies', () => {
    const w = words('a b c a b c a b c d');
    assert.equal(withoutCopies(w, findRepetition(w)!).join(' '), 'a b c d');
  });

  it('a partial keeps a repetition that fits its time and loses one that cannot have been said', () => {
    const text = 'ten of clubs ten of clubs ten of clubs ten of clubs';
    assert.equal(guardPartial(text, 4), text);
    assert.equal(guardPartial(text, 0.5), 'ten of clubs');
  });
});
