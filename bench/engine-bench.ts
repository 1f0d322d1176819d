/**
 * One model, offline, in a process of its own (so peak RSS is the model's): WER on the speech fixtures, real-time
 * factor (fastest of 5 passes), load time. Prints one JSON line. Usage: node --import tsx bench/engine-bench.ts MODEL [THREADS]
 */
import { ASR_SAMPLE_RATE } from '../src/asr/engine.ts';
import { loadEngine } from '../src/asr/load-engine.ts';
import { clipSamples } from '../eval/conversation.ts';
import { SPEECH_CLIPS } from '../eval/speech.ts';
import { fastestPass } from './fastest-pass.ts';
import { wer } from '../eval/wer.ts';

const [model = 'moonshine-tiny', threads = '1'] = process.argv.slice(2);
const loadStart = performance.now();
const engine = await loadEngine(model, { threads: Number(threads) });
const loadMs = performance.now() - loadStart;
const clips = SPEECH_CLIPS.map((c) => ({ ...c, samples: clipSamples(c) }));
const audioSeconds = clips.reduce((sum, c) => sum + c.samples.length / ASR_SAMPLE_RATE, 0);
const { ms, texts } = await fastestPass(clips.map((c) => c.samples), async (samples) => (await engine.transcribe(samples)).text);
const result = wer(clips.map((c, i) => ({ reference: c.text, hypothesis: texts[i]! })));
process.stdout.write(
  `${JSON.stringify({ model, threads: Number(threads), loadMs, ...result, audioSeconds, rtf: ms / 1000 / audioSeconds, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
);
await engine.dispose();
