import assert from 'node:assert/strict';
import { wer } from '../../bench/wer.ts';

/**
 * A protocol's finals against the seed protocol's on the same audio: as many, and the same words after the WER
 * normalizer. Not byte-equal: under load a final may come from the realtime model (it then spells "metres" where
 * the final model spells "meters"), which the seed protocol would get just the same.
 */
export function assertSameFinals(actual: string[], seed: string[]): void {
  assert.equal(actual.length, seed.length, `${JSON.stringify(actual)} vs ${JSON.stringify(seed)}`);
  for (const [i, text] of actual.entries()) {
    const { wer: w } = wer([{ reference: seed[i]!, hypothesis: text }]);
    assert.ok(w <= 0.15, `utterance ${i + 1}: "${text}" vs the seed protocol's "${seed[i]}"`);
  }
}
