/**
 * `npm run bench`: accuracy, speed and memory of the engines (each in its own process), a peer on the same audio,
 * and the recorder's latencies on a conversation streamed at real-time pace. Prints markdown tables.
 */
import { execFile } from 'node:child_process';
import os from 'node:os';
import { promisify } from 'node:util';
import { pocketsphinx } from './peers.ts';
import { transformersPeer } from './transformers-peer.ts';
import { benchKeyterms, keytermTable } from './keyterm-bench.ts';
import { benchNoise, noiseTable } from './noise-bench.ts';
import { benchQuiet, quietTable } from './quiet-bench.ts';
import { benchRecorder } from './recorder-bench.ts';
import { benchVad } from './vad-bench.ts';
import { benchWordTimestamps } from './word-timestamps-bench.ts';
import { ms, pct, table } from '../eval/stats.ts';

const run = promisify(execFile);

async function engineBench(model: string, threads: number) {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'bench/engine-bench.ts', model, String(threads)], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout) as { model: string; threads: number; loadMs: number; wer: number; errors: number; words: number; audioSeconds: number; rtf: number; peakRssMb: number };
}

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
console.log(`# Earshot benchmark — ${new Date().toISOString().slice(0, 10)}, ${cpu}, ${os.availableParallelism()} cores, Node ${process.version}\n`);

/**
 * Ours and transformers.js take turns, ROUNDS processes each, and each side keeps its fastest: a slow spell on this
 * shared machine then lands on both sides or on neither, instead of deciding the ratio.
 */
const ROUNDS = 2;
const fastest = <T extends { rtf?: number }>(runs: T[]): T => runs.reduce((a, b) => ((b.rtf ?? Infinity) < (a.rtf ?? Infinity) ? b : a));
const engines: Awaited<ReturnType<typeof engineBench>>[] = [];
const tfjs = [];
for (const model of ['moonshine-tiny', 'moonshine-base'] as const) {
  const ours = [];
  const theirs = [];
  for (let round = 0; round < ROUNDS; round++) {
    ours.push(await engineBench(model, 1));
    theirs.push(await transformersPeer(model));
  }
  engines.push(fastest(ours));
  tfjs.push(fastest(theirs));
}
const peer = await pocketsphinx();
console.log('## Engines (offline, 12 dev clips, 48 s, 117 words; 1 intra-op thread)\n');
console.log(
  table(
    ['system', 'WER', 'real-time factor', 'model load', 'peak RSS'],
    [
      ...engines.map((e) => [e.model, `${pct(e.wer)} (${e.errors}/${e.words})`, e.rtf.toFixed(3), ms(e.loadMs), `${Math.round(e.peakRssMb)} MB`]),
      ...tfjs.map((t, i) => [
        t.name,
        t.wer === undefined ? 'n/a' : pct(t.wer),
        t.rtf === undefined ? (t.note ?? 'n/a') : `${t.rtf.toFixed(3)} (ours ${(t.rtf / engines[i]!.rtf).toFixed(2)}× faster)`,
        t.loadMs === undefined ? 'n/a' : ms(t.loadMs),
        t.peakRssMb === undefined ? 'n/a' : `${Math.round(t.peakRssMb)} MB`,
      ]),
      [peer.name, peer.wer === undefined ? 'n/a' : pct(peer.wer), peer.rtf === undefined ? (peer.note ?? 'n/a') : `${peer.rtf.toFixed(3)} (incl. process start)`, 'n/a', 'n/a'],
    ],
  ),
);

const r = await benchRecorder();
console.log(`\n## Recorder (conversation of ${r.utterances} sentences, ${r.audioSeconds.toFixed(0)} s, streamed at real-time pace in 100 ms chunks)\n`);
console.log(
  table(
    ['metric', 'value'],
    [
      ['finals / utterances', `${r.finals} / ${r.utterances}`],
      ['final latency after end-of-speech decision, p50 / p95', `${ms(r.finalLatencyP50)} / ${ms(r.finalLatencyP95)}`],
      ['first partial after onset (recording start), p50 / p95', `${ms(r.firstPartialP50)} / ${ms(r.firstPartialP95)}`],
      ['partials per utterance', r.partialsPerUtterance.toFixed(1)],
      ['speculative-final hit rate', pct(r.speculativeHitRate)],
      ['WER through the recorder / offline engine (same clips)', `${pct(r.recorderWer)} / ${pct(r.offlineWer)}`],
    ],
  ),
);

const v = await benchVad();
console.log('\n## Voice activity detection (jfk.wav, 11 s, after a warm-up pass)\n');
console.log(table(['detector', 'cost'], [['Silero v5', `${v.sileroMsPerWindow.toFixed(3)} ms per 32 ms window`], ['WebRTC (mode 3)', `${v.webrtcMicrosPerFrame.toFixed(1)} µs per 30 ms frame`]]));

const w = await benchWordTimestamps();
console.log(`\n## Word timestamps (REST verbose_json; ${w.boundaries} sentence boundaries inside utterances)\n`);
console.log(table(['boundary error', 'value'], [['mean', ms(w.meanMs)], ['p50 / p90', `${ms(w.p50Ms)} / ${ms(w.p90Ms)}`]]));

console.log(
  '\n## Accuracy by condition (11 dev clips, 95 words; pink, brown and 8-talker babble noise at 10/5/0 dB SNR, fixed seed; ' +
    '8 kHz μ-law; moonshine-base finals cross-checked by moonshine-tiny, the default, through the recorder as `earshot transcribe` ' +
    'runs them, telephone also through the server; without the cross-check: node --import tsx bench/noise-bench.ts moonshine-base none)\n',
);
console.log(noiseTable(await benchNoise()));

console.log(
  '\n## Keyterms (keyterm dev set: 11 dev clips clean, pink/brown 5 dB, babble 10 dB, telephone; the dev list of 10 card and ' +
    'Austen words, then grown to the limit of 100 with names and jargon in none of the clips; base finals cross-checked by tiny; ' +
    'RTF on the clean clips; docs/keyterms.md)\n',
);
console.log(keytermTable(await benchKeyterms()));

console.log(
  '\n## Quiet input (11 dev clips, 95 words, each scaled to a peak level over pink noise at -72 dBFS RMS, fixed seed; ' +
    'through the recorder as `earshot transcribe` runs them, finals cross-checked; the adaptive gain on, the default, and off; docs/audio-gain.md)\n',
);
console.log(quietTable(await benchQuiet()));
