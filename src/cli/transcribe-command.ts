import fs from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { loadAudioFile } from '../audio/audio-file.ts';
import type { BiasPhrase } from '../asr/context-graph.ts';
import { compileKeyterms, KeytermError, keytermsOfFile, parseKeyterms } from '../asr/keyterms.ts';
import { ASR_MODELS } from '../asr/load-engine.ts';
import { transcribe } from '../pipeline/transcribe.ts';
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
    options: {
      model: { type: 'string', default: 'moonshine-base' },
      json: { type: 'boolean' },
      threads: { type: 'string' },
      'no-cross-check': { type: 'boolean' },
      keyterm: { type: 'string', multiple: true },
      'keyterms-file': { type: 'string' },
      'no-agc': { type: 'boolean' },
    },
  });
  if (positionals.length === 0) {
    throw new UsageError('usage: earshot transcribe [--model moonshine-tiny|moonshine-base] [--no-cross-check] [--keyterm TERM]... [--keyterms-file FILE] [--no-agc] [--json] FILE...');
  }
  const model = values.model!;
  if (!(ASR_MODELS as readonly string[]).includes(model)) throw new UsageError(`--model must be one of ${ASR_MODELS.join(', ')}`);
  const threads = Number(values.threads ?? 1);
  if (!Number.isInteger(threads) || threads < 1 || threads > 64) throw new UsageError('--threads must be a whole number from 1 to 64');
  const keyterms = await cliKeyterms(values.keyterm ?? [], values['keyterms-file']);
  // Finals of moonshine-base are cross-checked by moonshine-tiny unless told not to (docs/decisions/0004-cross-check-finals.md).
  const checkModel = values['no-cross-check'] ? null : undefined;
  const service = await TranscriptionService.load({ model, checkModel, crossCheckAlways: true, realtimeModel: null, threads, parallelism: 1 });
  let failures = 0;
  try {
    for (const file of positionals) {
      try {
        const audio = await loadAudioFile(file);
        // The recorder's gain levels a quiet recording (docs/audio-gain.md); say so when even that is not enough.
        const tooQuiet = ({ gainDb }: { gainDb: number }) =>
          process.stderr.write(`earshot transcribe: ${file}: the speech stays too quiet even at ${Math.round(gainDb)} dB of gain; the text may be incomplete\n`);
        const { finals, errors } = await transcribe(service, audio.samples, {
          sessionId: 'file',
          keyterms,
          config: { agc: !values['no-agc'] },
          observe: (recorder) => recorder.on('inputTooQuiet', tooQuiet),
        });
        if (errors.length > 0) throw new Error(errors[0]!.message);
        for (const final of finals) {
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

/** --keyterm TERM (repeatable) and --keyterms-file FILE (one a line), as one list under the server's limits. */
async function cliKeyterms(terms: string[], file?: string): Promise<BiasPhrase[]> {
  let fromFile: string[] = [];
  try {
    if (file) fromFile = keytermsOfFile(await fs.readFile(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`--keyterms-file: ${(e as Error).message}`);
  }
  try {
    return await compileKeyterms(parseKeyterms([...terms, ...fromFile]));
  } catch (e) {
    if (e instanceof KeytermError) throw new UsageError(`keyterms: ${e.message}`);
    throw e;
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
