/**
 * Decoding levers on the noisy dev set (bench/noisy-dev-set.ts), each clip decoded whole by engines in this process
 * (no VAD, no hallucination guard: the decoding alone): moonshine-base greedy, moonshine-tiny greedy, base beam search
 * of width 2-5, the hypothesis whose own model is more confident (mean log-probability per token), and the
 * cross-check (src/asr/cross-check-engine.ts). WER per condition and lever, and each lever's real-time factor.
 * Usage: node --import tsx bench/lever-bench.ts
 */
import { ASR_SAMPLE_RATE, meanLogProb } from '../src/asr/engine.ts';
import { CrossCheckEngine } from '../src/asr/cross-check-engine.ts';
import { loadEngine } from '../src/asr/load-engine.ts';
import { resample } from '../src/audio/resample.ts';
import { CONDITIONS, noisyDevSet } from './noisy-dev-set.ts';
import { table } from './stats.ts';
import { wer } from './wer.ts';

const BEAMS = [2, 3, 4, 5];
const base = await loadEngine('moonshine-base');
const tiny = await loadEngine('moonshine-tiny');
const crossCheck = new CrossCheckEngine(base, tiny);

interface Outcome {
  text: string;
  ms: number;
}
const levers = ['base greedy', 'tiny greedy', ...BEAMS.map((w) => `base beam ${w}`), 'more confident of base / tiny', 'cross-check base × tiny'];
const results = new Map<string, Map<string, Array<{ reference: string; outcome: Outcome; seconds: number }>>>(levers.map((l) => [l, new Map()]));

async function timed(run: () => Promise<{ text: string }>): Promise<Outcome> {
  const started = performance.now();
  const { text } = await run();
  return { text, ms: performance.now() - started };
}

for (const condition of CONDITIONS) {
  for (const { clip, samples } of noisyDevSet(condition)) {
    const audio = condition.sampleRate === ASR_SAMPLE_RATE ? samples : resample(samples, condition.sampleRate, ASR_SAMPLE_RATE);
    const outcomes = new Map<string, Outcome>();
    const b = await base.transcribe(audio);
    const t = await tiny.transcribe(audio);
    outcomes.set('base greedy', { text: b.text, ms: b.processingMs });
    outcomes.set('tiny greedy', { text: t.text, ms: t.processingMs });
    for (const width of BEAMS) outcomes.set(`base beam ${width}`, await timed(() => base.transcribe(audio, { beams: width })));
    const confident = meanLogProb(t.score!) > meanLogProb(b.score!) ? t : b;
    outcomes.set('more confident of base / tiny', { text: confident.text, ms: b.processingMs + t.processingMs });
    outcomes.set('cross-check base × tiny', await timed(() => crossCheck.transcribe(audio, { crossCheck: true })));
    for (const [lever, outcome] of outcomes) {
      const byCondition = results.get(lever)!;
      if (!byCondition.has(condition.name)) byCondition.set(condition.name, []);
      byCondition.get(condition.name)!.push({ reference: clip.text, outcome, seconds: audio.length / ASR_SAMPLE_RATE });
    }
  }
  process.stderr.write(`${condition.name} done\n`);
}

console.log(
  table(
    ['lever', ...CONDITIONS.map((c) => c.name), 'RTF (all conditions)'],
    levers.map((lever) => {
      const byCondition = results.get(lever)!;
      const all = [...byCondition.values()].flat();
      const rtf = all.reduce((s, r) => s + r.outcome.ms, 0) / 1000 / all.reduce((s, r) => s + r.seconds, 0);
      const cells = CONDITIONS.map((c) => `${(wer(byCondition.get(c.name)!.map((r) => ({ reference: r.reference, hypothesis: r.outcome.text }))).wer * 100).toFixed(1)} %`);
      return [lever, ...cells, rtf.toFixed(3)];
    }),
  ),
);
await Promise.all([base.dispose(), tiny.dispose()]);
