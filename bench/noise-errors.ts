/**
 * What the errors on the noisy dev set are: each clip through the recorder (VAD, onset walk-back, guard) as `earshot
 * transcribe` runs it, with the final decoded in this process by a chosen final rule, and every word error classed
 * as a substitution, deletion or insertion, and insertions as inside the sentence or at its edges (before its first
 * or after its last word: the 0.5 s pads hold only noise, so edge words are another talker's or the noise's).
 * Usage: node --import tsx bench/noise-errors.ts [RULE,...] [CONDITION,...] [--clips]
 *   RULE: base | cross (default: both); CONDITION: names from noisy-dev-set.ts (default: all); --clips prints
 *   each clip's reference, hypothesis and the spans of its finals.
 */
import { ASR_SAMPLE_RATE, type Transcript } from '../src/asr/engine.ts';
import { CrossCheckEngine } from '../src/asr/cross-check-engine.ts';
import { loadEngine } from '../src/asr/load-engine.ts';
import type { SessionTranscriber } from '../src/asr/scheduler.ts';
import { resample } from '../src/audio/resample.ts';
import { Recorder, type FinalTranscript } from '../src/recorder/recorder.ts';
import { DEFAULT_RECORDER_CONFIG } from '../src/recorder/recorder-config.ts';
import { loadSileroModel } from '../src/vad/load-vad.ts';
import { VoiceActivityDetector } from '../src/vad/voice-activity-detector.ts';
import { clipSamples } from '../test/fixtures/conversation.ts';
import { CONDITIONS, noisyDevSet, PAD_SECONDS } from './noisy-dev-set.ts';
import { finalsOf } from './recorder-finals.ts';
import { pct, table } from './stats.ts';
import { alignWords, normalizeWords, type WordOp } from './wer.ts';

const base = await loadEngine('moonshine-base');
const tiny = await loadEngine('moonshine-tiny');
const crossCheck = new CrossCheckEngine(base, tiny);
const RULES: Record<string, (samples: Float32Array, signal?: AbortSignal) => Promise<Transcript>> = {
  base: (samples, signal) => base.transcribe(samples, { signal }),
  cross: (samples, signal) => crossCheck.transcribe(samples, { signal, crossCheck: true }),
};

const args = process.argv.slice(2);
const showClips = args.includes('--clips');
const [ruleArg, conditionArg] = args.filter((a) => !a.startsWith('--'));
const rules = ruleArg ? ruleArg.split(',') : Object.keys(RULES);
const conditions = conditionArg ? CONDITIONS.filter((c) => conditionArg.split(',').includes(c.name)) : CONDITIONS;
const silero = await loadSileroModel();

interface Tally {
  words: number;
  sub: number;
  del: number;
  insInside: number;
  insEdge: number;
  /** Clips with more than one final (the sentence split, or noise transcribed apart). */
  split: number;
  ms: number;
  seconds: number;
}

const rows: string[][] = [];
for (const rule of rules) {
  for (const condition of conditions) {
    const tally: Tally = { words: 0, sub: 0, del: 0, insInside: 0, insEdge: 0, split: 0, ms: 0, seconds: 0 };
    for (const { clip, samples } of noisyDevSet(condition)) {
      const audio = condition.sampleRate === ASR_SAMPLE_RATE ? samples : resample(samples, condition.sampleRate, ASR_SAMPLE_RATE);
      const finals = await throughRecorder(audio, RULES[rule]!);
      const ref = normalizeWords(clip.text);
      const hyp = normalizeWords(finals.map((f) => f.text).join(' '));
      const ops = alignWords(ref, hyp);
      tally.words += ref.length;
      tally.seconds += audio.length / ASR_SAMPLE_RATE;
      tally.ms += finals.reduce((s, f) => s + f.processingMs, 0);
      if (finals.length > 1) tally.split++;
      countOps(ops, tally);
      if (showClips && ops.some((o) => o.op !== 'ok')) {
        const speechEnd = PAD_SECONDS + clipSamples(clip).length / ASR_SAMPLE_RATE;
        const spans = finals.map((f) => `${f.start.toFixed(2)}-${f.end.toFixed(2)}${f.crossCheck ? ` ${f.crossCheck}` : ''}`).join(', ');
        console.log(`[${rule} | ${condition.name}] ${clip.file} (speech ${PAD_SECONDS}-${speechEnd.toFixed(2)} s; finals ${spans || 'none'})`);
        console.log(`  ${ops.map(showOp).join(' ')}`);
      }
    }
    const errors = tally.sub + tally.del + tally.insInside + tally.insEdge;
    rows.push([rule, condition.name, `${pct(errors / tally.words)} (${errors}/${tally.words})`, `${tally.sub}`, `${tally.del}`, `${tally.insInside}`, `${tally.insEdge}`, `${tally.split}`, (tally.ms / 1000 / tally.seconds).toFixed(3)]);
    process.stderr.write(`${rule} ${condition.name} done\n`);
  }
}
console.log(table(['rule', 'condition', 'WER', 'substituted', 'deleted', 'inserted inside', 'inserted at the edges', 'clips split', 'RTF'], rows));
await Promise.all([base.dispose(), tiny.dispose(), silero.dispose()]);

/** One clip through a fresh recorder whose finals come from `final` in this process (no scheduler, no partials). */
async function throughRecorder(audio: Float32Array, final: SessionTranscriber['final']): Promise<FinalTranscript[]> {
  const vad = await VoiceActivityDetector.create(silero, { sileroSensitivity: DEFAULT_RECORDER_CONFIG.sileroSensitivity, webrtcSensitivity: DEFAULT_RECORDER_CONFIG.webrtcSensitivity });
  const transcriber: SessionTranscriber = { final, partial: async () => null, cancel: () => {} };
  return finalsOf(new Recorder(vad, transcriber, { enableRealtimeTranscription: false }), audio);
}

function countOps(ops: WordOp[], tally: Tally): void {
  const first = ops.findIndex((o) => o.op !== 'ins');
  const last = ops.length - 1 - [...ops].reverse().findIndex((o) => o.op !== 'ins');
  ops.forEach((o, i) => {
    if (o.op === 'sub') tally.sub++;
    else if (o.op === 'del') tally.del++;
    else if (o.op === 'ins') {
      if (first < 0 || i < first || i > last) tally.insEdge++;
      else tally.insInside++;
    }
  });
}

function showOp(o: WordOp): string {
  if (o.op === 'ok') return o.ref!;
  if (o.op === 'sub') return `[${o.ref}→${o.hyp}]`;
  if (o.op === 'del') return `[-${o.ref}]`;
  return `[+${o.hyp}]`;
}
