import { parseArgs } from 'node:util';
import { loadAudioFile } from '../audio/audio-file.ts';
import { ASR_SAMPLE_RATE } from '../asr/engine.ts';
import { ASR_MODELS } from '../asr/load-engine.ts';
import type { FinalTranscript } from '../recorder/recorder.ts';
import { TranscriptionService } from '../pipeline/transcription-service.ts';
import { UsageError } from './usage-error.ts';

/**
 * `earshot transcribe`: files of any length through the same recorder the server uses (VAD segmentation, finals
 * only), one output line per utterance.
 */
export async function transcribeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { model: { type: 'string', default: 'moonshine-base' }, json: { type: 'boolean' }, threads: { type: 'string' }, 'no-cross-check': { type: 'boolean' } },
  });
  if (positionals.length === 0) throw new UsageError('usage: earshot transcribe [--model moonshine-tiny|moonshine-base] [--no-cross-check] [--json] FILE...');
  const model = values.model!;
  if (!(ASR_MODELS as readonly string[]).includes(model)) throw new UsageError(`--model must be one of ${ASR_MODELS.join(', ')}`);
  const threads = Number(values.threads ?? 1);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new UsageError('--threads must be a whole number from 1 to 64');
  // Finals of moonshine-base are cross-checked by moonshine-tiny unless told not to (README, Benchmark).
  const checkModel = values['no-cross-check'] ? null : undefined;
  const service = await TranscriptionService.load({ model, checkModel, crossCheckAlways: true, realtimeModel: null, threads, parallelism: 1 });
  let failures = 0;
  try {
    for (const file of positionals) {
      try {
        const audio = await loadAudioFile(file);
        for (const final of await transcribeSamples(service, audio.samples)) {
          process.stdout.write(
            values.json
              ? `${JSON.stringify({
                  file,
                  text: final.text,
                  start: round(final.start),
                  end: round(final.end),
                  model,
                  audio_seconds: round(audio.durationSeconds),
                  processing_ms: Math.round(final.processingMs),
                  guard: final.guard,
                  cross_check: final.crossCheck,
                })}\n`
              : `${file}\t${final.text}\n`,
          );
        }
      } catch (e) {
        failures++;
        process.stderr.write(`earshot transcribe: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  } finally {
    await service.dispose();
  }
  return failures > 0 ? 1 : 0;
}

/** Whole-file transcription through a recorder: finals only, timed in seconds of the file. */
export async function transcribeSamples(service: TranscriptionService, samples: Float32Array): Promise<FinalTranscript[]> {
  const recorder = await service.createRecorder('file', { enableRealtimeTranscription: false });
  const finals: FinalTranscript[] = [];
  let failure: Error | undefined;
  recorder.on('transcriptionFinished', (f) => finals.push(f));
  recorder.on('error', (e) => (failure ??= new Error(e.message)));
  try {
    recorder.start();
    recorder.feedAudio(samples, ASR_SAMPLE_RATE);
    await recorder.stop();
  } finally {
    recorder.shutdown();
  }
  if (failure) throw failure;
  return finals;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
