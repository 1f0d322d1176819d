/**
 * Keyterms on the keyterm dev set (eval/keyterm-dev-set.ts): finals as the server makes them by default (moonshine-base
 * cross-checked by moonshine-tiny, in process) without keyterms, with the dev list (10), and with that list grown to
 * the limit (100): keyterm recall, WER of the clips holding keyterms and of those holding none, keyterm words inserted,
 * and the finals' real-time factor on the clean clips (fastest of 3 interleaved passes each). Standalone:
 * node --import tsx bench/keyterm-bench.ts
 */
import { CrossCheckEngine } from '../src/asr/cross-check-engine.ts';
import { ASR_SAMPLE_RATE, type TranscribeOptions } from '../src/asr/engine.ts';
import { compileKeyterms, parseKeyterms } from '../src/asr/keyterms.ts';
import { loadEngine } from '../src/asr/load-engine.ts';
import { DEV_KEYTERMS, HUNDRED_KEYTERMS, keytermDevSet, keytermScore } from '../eval/keyterm-dev-set.ts';
import { pct, table } from '../eval/stats.ts';
import { wer } from '../eval/wer.ts';

export interface KeytermResult {
  keyterms: number;
  recall: number;
  found: number;
  expected: number;
  werWith: string;
  werWithout: string;
  inserted: number;
  rtf: number;
}

const PASSES = 3;

export async function benchKeyterms(): Promise<KeytermResult[]> {
  const [base, tiny] = await Promise.all([loadEngine('moonshine-base'), loadEngine('moonshine-tiny')]);
  const engine = new CrossCheckEngine(base, tiny);
  const lists = [[], DEV_KEYTERMS, HUNDRED_KEYTERMS];
  const options: TranscribeOptions[] = await Promise.all(lists.map(async (list) => ({ crossCheck: true, keyterms: await compileKeyterms(parseKeyterms(list)) })));
  const clips = keytermDevSet();
  const holdsKeyterm = clips.map((c) => keytermScore([{ reference: c.reference, hypothesis: '' }], DEV_KEYTERMS).expected > 0);
  const results: KeytermResult[] = [];
  for (const [i, list] of lists.entries()) {
    const pairs: Array<{ reference: string; hypothesis: string }> = [];
    for (const c of clips) pairs.push({ reference: c.reference, hypothesis: (await engine.transcribe(c.samples, options[i])).text });
    const score = keytermScore(pairs, DEV_KEYTERMS);
    const errors = (keep: boolean) => {
      const w = wer(pairs.filter((_, j) => holdsKeyterm[j] === keep));
      return `${pct(w.wer)} (${w.errors}/${w.words})`;
    };
    results.push({ keyterms: list.length, recall: score.found / score.expected, found: score.found, expected: score.expected, werWith: errors(true), werWithout: errors(false), inserted: score.inserted, rtf: 0 });
  }
  // Speed: the clean clips, each list in turn per clip so that a disturbance on the shared machine hits all alike.
  const clean = clips.filter((c) => c.name.endsWith(' clean'));
  const best = lists.map(() => clean.map(() => Infinity));
  await engine.transcribe(clean[0]!.samples, options[0]);
  for (let pass = 0; pass < PASSES; pass++) {
    for (const [j, c] of clean.entries()) {
      for (const i of lists.keys()) {
        const started = performance.now();
        await engine.transcribe(c.samples, options[i]);
        best[i]![j] = Math.min(best[i]![j]!, performance.now() - started);
      }
    }
  }
  const audioSeconds = clean.reduce((sum, c) => sum + c.samples.length / ASR_SAMPLE_RATE, 0);
  for (const [i, r] of results.entries()) r.rtf = best[i]!.reduce((a, b) => a + b, 0) / 1000 / audioSeconds;
  await Promise.all([base.dispose(), tiny.dispose()]);
  return results;
}

export function keytermTable(results: KeytermResult[]): string {
  const plain = results[0]!.rtf;
  return table(
    ['keyterms', 'keyterm recall', 'WER, clips with keyterms', 'WER, clips without', 'keyterms inserted', 'RTF (finals)', 'RTF ratio'],
    results.map((r) => [r.keyterms, `${pct(r.recall)} (${r.found}/${r.expected})`, r.werWith, r.werWithout, r.inserted, r.rtf.toFixed(3), (r.rtf / plain).toFixed(2)]),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(keytermTable(await benchKeyterms()));
