import { parseArgs } from 'node:util';
import { loadAudioFile } from '../audio/audio-file.ts';
import { ASR_MODELS, loadEngine } from '../asr/load-engine.ts';
import { UsageError } from './usage-error.ts';

export async function transcribeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { model: { type: 'string', default: 'moonshine-base' }, json: { type: 'boolean' }, threads: { type: 'string' } },
  });
  if (positionals.length === 0) throw new UsageError('usage: earshot transcribe [--model moonshine-tiny|moonshine-base] [--json] FILE...');
  const model = values.model!;
  if (!(ASR_MODELS as readonly string[]).includes(model)) throw new UsageError(`--model must be one of ${ASR_MODELS.join(', ')}`);
  const engine = await loadEngine(model, { threads: Number(values.threads ?? 1) });
  let failures = 0;
  try {
    for (const file of positionals) {
      try {
        const audio = await loadAudioFile(file);
        if (audio.durationSeconds > engine.maxAudioSeconds) {
          throw new Error(`${file} is ${audio.durationSeconds.toFixed(1)} s long; files over ${engine.maxAudioSeconds} s are not supported yet`);
        }
        const result = await engine.transcribe(audio.samples);
        process.stdout.write(
          values.json
            ? `${JSON.stringify({ file, text: result.text, model, audio_seconds: round(result.audioSeconds), processing_ms: Math.round(result.processingMs) })}\n`
            : `${file}\t${result.text}\n`,
        );
      } catch (e) {
        failures++;
        process.stderr.write(`earshot transcribe: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  } finally {
    await engine.dispose();
  }
  return failures > 0 ? 1 : 0;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
