/**
 * Word-timestamp boundary error (the REST API's `timestamp_granularities[]=word`). Without hand-labelled words, the
 * boundaries known for sure are where one recorded sentence ends and the next begins: pairs of dev sentences are
 * joined with a 0.35 s pause (one utterance for the recorder, whose silence window is 0.6 s), transcribed as the API
 * does, and the predicted start of each sentence's first word and end of its last word are compared with the speech
 * onset and offset of the sentence's own recording (first and last 10 ms frame above -40 dBFS, a fixed level
 * unrelated to the estimator's relative threshold).
 */
import { clipSamples, concat } from '../eval/conversation.ts';
import { SPEECH_CLIPS, type SpeechClip } from '../eval/speech.ts';
import { TranscriptionService } from '../src/pipeline/transcription-service.ts';
import { transcribe } from '../src/pipeline/transcribe.ts';
import { wordTimestamps } from '../src/recorder/word-timestamps.ts';

const RATE = 16000;
const GAP = 0.35;

/** First and last 10 ms frame louder than -40 dBFS, in seconds. */
function speechSpan(samples: Float32Array): { onset: number; offset: number } {
  const frame = RATE / 100;
  const loud: number[] = [];
  for (let f = 0; f + frame <= samples.length; f += frame) {
    let sum = 0;
    for (let i = f; i < f + frame; i++) sum += samples[i]! * samples[i]!;
    if (10 * Math.log10(sum / frame + 1e-12) > -40) loud.push(f);
  }
  return { onset: (loud[0] ?? 0) / RATE, offset: ((loud.at(-1) ?? 0) + frame) / RATE };
}

export async function benchWordTimestamps(): Promise<{ boundaries: number; meanMs: number; p50Ms: number; p90Ms: number }> {
  const service = await TranscriptionService.load({ parallelism: 2 });
  const sentences = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav');
  const errors: number[] = [];
  try {
    for (let i = 0; i + 1 < sentences.length; i += 2) {
      const pair: SpeechClip[] = [sentences[i]!, sentences[i + 1]!];
      const audio = pair.map(clipSamples);
      const samples = concat(audio[0]!, new Float32Array(Math.round(GAP * RATE)), audio[1]!);
      const { finals } = await transcribe(service, samples);
      const words = finals.flatMap((s) => wordTimestamps(samples, RATE, s.start, s.end, s.text));
      const firstWords = pair[0]!.text.split(/\s+/).length;
      if (words.length < 2) continue;
      // The join: the predicted word nearest to where the first sentence's word count ends (the model may merge or
      // split a word; the boundary is taken at the same word count, clamped to the words there are).
      const k = Math.min(Math.max(1, firstWords), words.length - 1);
      const second = audio[0]!.length / RATE + GAP;
      const span0 = speechSpan(audio[0]!);
      const span1 = speechSpan(audio[1]!);
      errors.push(Math.abs(words[0]!.start - span0.onset));
      errors.push(Math.abs(words[k - 1]!.end - span0.offset));
      errors.push(Math.abs(words[k]!.start - (second + span1.onset)));
      errors.push(Math.abs(words.at(-1)!.end - (second + span1.offset)));
    }
  } finally {
    await service.dispose();
  }
  errors.sort((a, b) => a - b);
  const at = (q: number) => errors[Math.min(errors.length - 1, Math.floor(q * errors.length))]! * 1000;
  return { boundaries: errors.length, meanMs: (errors.reduce((a, b) => a + b, 0) / errors.length) * 1000, p50Ms: at(0.5), p90Ms: at(0.9) };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await benchWordTimestamps());
