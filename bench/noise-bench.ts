/**
 * WER by condition on the noisy dev set (eval/noisy-dev-set.ts): each clip through the recorder as `earshot
 * transcribe` runs it (VAD, finals only), and the telephone band also through a real server over the WebSocket
 * protocol (`sample_rate: 8000`). Also counts what the hallucination guard and the cross-check did. Standalone:
 * node --import tsx bench/noise-bench.ts [MODEL] [CHECK_MODEL|none]
 */
import { ASR_SAMPLE_RATE } from '../src/asr/engine.ts';
import { resample } from '../src/audio/resample.ts';
import { EarshotClient } from '../src/client/earshot-client.ts';
import type { FinalTranscript } from '../src/recorder/recorder.ts';
import { transcribe } from '../src/pipeline/transcribe.ts';
import { TranscriptionService } from '../src/pipeline/transcription-service.ts';
import { silentLogger } from '../src/server/logger.ts';
import { EarshotServer } from '../src/server/server.ts';
import { CONDITIONS, noisyDevSet, type Condition } from '../eval/noisy-dev-set.ts';
import { pct, table } from '../eval/stats.ts';
import { wer } from '../eval/wer.ts';

export interface ConditionResult {
  condition: string;
  path: 'recorder' | 'server';
  wer: number;
  errors: number;
  words: number;
  rtf: number;
  loopsCut: number;
  repetitionsKept: number;
  /** Finals whose text the cross-check took from the check model. */
  replaced: number;
}

/** `checkModel`: as TranscriptionService takes it (undefined: the default cross-check of `model`, null: none). */
export async function benchNoise(model = 'moonshine-base', checkModel?: string | null): Promise<ConditionResult[]> {
  const service = await TranscriptionService.load({ model, checkModel, crossCheckAlways: true, realtimeModel: null, parallelism: 1 });
  const results: ConditionResult[] = [];
  try {
    for (const condition of CONDITIONS) {
      results.push(await throughRecorder(service, condition));
      if (condition.sampleRate !== ASR_SAMPLE_RATE) results.push(await throughServer(service, condition));
    }
  } finally {
    await service.dispose();
  }
  return results;
}

export function noiseTable(results: ConditionResult[]): string {
  return table(
    ['condition', 'path', 'WER', 'RTF (finals)', 'loops cut', 'repetitions kept', 'cross-check replaced'],
    results.map((r) => [r.condition, r.path, `${pct(r.wer)} (${r.errors}/${r.words})`, r.rtf ? r.rtf.toFixed(3) : 'n/a', r.loopsCut, r.repetitionsKept, r.path === 'server' ? 'n/a' : r.replaced]),
  );
}

/** The CLI's path: the whole file at 16 kHz (the CLI resamples a file first) into one recorder. */
async function throughRecorder(service: TranscriptionService, condition: Condition): Promise<ConditionResult> {
  const set = noisyDevSet(condition);
  const hypotheses: FinalTranscript[][] = [];
  let audioSeconds = 0;
  for (const { samples } of set) {
    const audio = condition.sampleRate === ASR_SAMPLE_RATE ? samples : resample(samples, condition.sampleRate, ASR_SAMPLE_RATE);
    audioSeconds += audio.length / ASR_SAMPLE_RATE;
    hypotheses.push((await transcribe(service, audio, { sessionId: 'bench' })).finals);
  }
  const all = hypotheses.flat();
  return {
    condition: condition.name,
    path: 'recorder',
    ...wer(set.map(({ clip }, i) => ({ reference: clip.text, hypothesis: hypotheses[i]!.map((f) => f.text).join(' ') }))),
    rtf: all.reduce((sum, f) => sum + f.processingMs, 0) / 1000 / audioSeconds,
    loopsCut: all.filter((f) => f.guard === 'loop_cut').length,
    repetitionsKept: all.filter((f) => f.guard === 'repetition_kept').length,
    replaced: all.filter((f) => f.crossCheck === 'replaced').length,
  };
}

/** A real server in this process; each clip streamed as PCM16 at the condition's rate over /ws/stream. */
async function throughServer(service: TranscriptionService, condition: Condition): Promise<ConditionResult> {
  const server = new EarshotServer({ log: silentLogger, service, config: { host: '127.0.0.1', port: 0 } });
  await server.listen();
  const set = noisyDevSet(condition);
  const texts: string[] = [];
  try {
    const client = await EarshotClient.connect(`${server.url.replace(/^http/, 'ws')}/ws/stream`);
    for (const { samples } of set) {
      const finals: string[] = [];
      const off = client.on('message', (m) => {
        if (m.type === 'stt_final') finals.push(m.text);
      });
      await client.start(undefined, { sampleRate: condition.sampleRate });
      await client.streamPcm(samples, { realtime: false, sampleRate: condition.sampleRate });
      await client.stop();
      off();
      texts.push(finals.join(' '));
    }
    await client.close();
  } finally {
    await server.close(); // the service stays: the caller owns it
  }
  return { condition: condition.name, path: 'server', ...wer(set.map(({ clip }, i) => ({ reference: clip.text, hypothesis: texts[i]! }))), rtf: 0, loopsCut: 0, repetitionsKept: 0, replaced: 0 };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [model = 'moonshine-base', check] = process.argv.slice(2);
  console.log(`## WER by condition (${model}${check ? `, cross-check: ${check}` : ''})\n`);
  console.log(noiseTable(await benchNoise(model, check === 'none' ? null : check)));
}
