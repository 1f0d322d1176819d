import assert from 'node:assert/strict';
import { normalizeWords } from '../../eval/wer.ts';

/**
 * A protocol's finals against the seed protocol's on the same audio: as many, and the same words after the WER
 * normalizer (which spells "metres" and "meters" alike). The test servers run no cross-check, so every final is the
 * final model's unless none of its workers can take it, which one session at a time does not meet.
 */
export function assertSameFinals(actual: string[], seed: string[]): void {
  assert.equal(actual.length, seed.length, `${JSON.stringify(actual)} vs ${JSON.stringify(seed)}`);
  for (const [i, text] of actual.entries()) {
    assert.deepEqual(normalizeWords(text), normalizeWords(seed[i]!), `utterance ${i + 1}: "${text}" vs the seed protocol's "${seed[i]}"`);
  }
}
