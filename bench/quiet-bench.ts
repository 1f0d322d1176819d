/**
 * WER of quiet input (issue #30): each dev clip scaled to a peak of -36, -46 or -56 dBFS over a microphone's self-noise
 * (pink, -72 dBFS RMS; eval/quiet-speech.ts), through the recorder as `earshot transcribe` runs a file, with
 * the adaptive gain on (the default) and off. Standalone: node --import tsx bench/quiet-bench.ts
 */
import { ASR_SAMPLE_RATE } from '../src/asr/engine.ts';
import type { FinalTranscript } from '../src/recorder/recorder.ts';
import { TranscriptionService } from '../src/pipeline/transcription-service.ts';
import { transcribe } from '../src/pipeline/transcribe.ts';
import { clipSamples, concat } from '../eval/conversation.ts';
import { PAD_SECONDS } from '../eval/noisy-dev-set.ts';
import { quietSpeech } from '../eval/quiet-speech.ts';
import { SPEECH_CLIPS } from '../eval/speech.ts';
import { pct, table } from '../eval/stats.ts';
import { wer } from '../eval/wer.ts';

/** Peak levels (dBFS); undefined: the clip as recorded, with no noise added. */
export const QUIET_LEVELS: Array<number | undefined> = [undefined, -36, -46, -56];

export interface QuietResult {
  level: string;
  agc: boolean;
  /** Clips with any text, of `clips`. */
  heard: number;
  clips: number;
  wer: number;
  errors: number;
  words: number;
}

export async function benchQuiet(model = 'moonshine-base'): Promise<QuietResult[]> {
  const service = await TranscriptionService.load({ model, crossCheckAlways: true, realtimeModel: null, parallelism: 1 });
  const clips = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav');
  const pad = new Float32Array(Math.round(PAD_SECONDS * ASR_SAMPLE_RATE));
  const results: QuietResult[] = [];
  try {
    for (const peak of QUIET_LEVELS) {
      const audio = clips.map((c) => {
        const speech = concat(pad, clipSamples(c), pad);
        return peak === undefined ? speech : quietSpeech(speech, peak, `${c.file} ${peak}`);
      });
      for (const agc of [true, false]) {
        const finals: FinalTranscript[][] = [];
        for (const samples of audio) finals.push((await transcribe(service, samples, { sessionId: 'bench', config: { agc } })).finals);
        const texts = finals.map((f) => f.map((x) => x.text).join(' '));
        results.push({
          level: peak === undefined ? 'as recorded (peak -14 to 0 dBFS)' : `${peak} dBFS peak`,
          agc,
          heard: texts.filter((x) => x.trim()).length,
          clips: clips.length,
          ...wer(clips.map((c, i) => ({ reference: c.text, hypothesis: texts[i]! }))),
        });
      }
    }
  } finally {
    await service.dispose();
  }
  return results;
}

export function quietTable(results: QuietResult[]): string {
  return table(
    ['input level', 'agc', 'clips with text', 'WER'],
    results.map((r) => [r.level, r.agc ? 'on' : 'off', `${r.heard} / ${r.clips}`, `${pct(r.wer)} (${r.errors}/${r.words})`]),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(quietTable(await benchQuiet(process.argv[2])));
}
