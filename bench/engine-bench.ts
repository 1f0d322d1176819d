/**
 * One model, offline, in a process of its own (so peak RSS is the model's): WER on the speech fixtures, real-time
 * factor, load time. Prints one JSON line. Usage: node --import tsx bench/engine-bench.ts MODEL [THREADS]
 */
import { loadEngine } from '../src/asr/load-engine.ts';
import { clipSamples } from '../test/fixtures/conversation.ts';
import { SPEECH_CLIPS } from '../test/fixtures/speech.ts';
import { wer } from './wer.ts';

const [model = 'moonshine-tiny', threads = '1'] = process.argv.slice(2);
const loadStart = performance.now();
const engine = await loadEngine(model, { threads: Number(threads) });
const loadMs = performance.now() - loadStart;
const clips = SPEECH_CLIPS.map((c) => ({ ...c, samples: clipSamples(c) }));
await engine.transcribe(clips[0]!.samples); // warm-up: the first run pays for allocations
let audioSeconds = 0;
let processingMs = 0;
const pairs = [];
for (const c of clips) {
  const t = await engine.transcribe(c.samples);
  audioSeconds += t.audioSeconds;
  processingMs += t.processingMs;
  pairs.push({ reference: c.text, hypothesis: t.text });
}
const result = wer(pairs);
process.stdout.write(
  `${JSON.stringify({ model, threads: Number(threads), loadMs, ...result, audioSeconds, rtf: processingMs / 1000 / audioSeconds, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`,
);
await engine.dispose();
