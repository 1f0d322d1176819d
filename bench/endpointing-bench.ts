/**
 * Short endpointing against accuracy (issue 27): the dev conversation and the unscripted recording cut where a
 * client's endpointing asks (Deepgram's endpointing=25 → the recorder's shortest silence, 0.1 s; OpenAI's
 * silence_duration_ms=350 → 0.35 s) and transcribed three ways: each short segment alone (what the server did),
 * each short segment decoded after the session's preceding audio with its already-final tokens as a forced prefix
 * (way 1), and Earshot's own segmentation (0.6 s) whatever the client asks, the client's endpointing mapped onto
 * is_final / speech_final (way 2: its words are the seed protocol's by construction). WER and finals per condition.
 * Usage: node --import tsx bench/endpointing-bench.ts
 */
import { ASR_SAMPLE_RATE } from '../src/asr/engine.ts';
import { loadEngine } from '../src/asr/load-engine.ts';
import { decodeTokens } from '../src/asr/tokenizer.ts';
import { transcribe } from '../src/pipeline/transcribe.ts';
import { TranscriptionService } from '../src/pipeline/transcription-service.ts';
import { conversation } from '../eval/conversation.ts';
import { table } from '../eval/stats.ts';
import { unscripted } from '../eval/unscripted.ts';
import { wer } from '../eval/wer.ts';

/** Context a short segment is decoded after: the segments before it, back to a longer pause or this much audio. */
const CONTEXT_GAP_SECONDS = 2;
const CONTEXT_MAX_SECONDS = 18;
const LEAD_IN = 0.2 * ASR_SAMPLE_RATE;

const service = await TranscriptionService.load({ parallelism: 1, realtimeModel: null, checkModel: null });
const base = await loadEngine('moonshine-base');
const recordings = [
  { name: 'dev conversation (read)', ...conversation(undefined, 1) },
  { name: 'unscripted pauses', ...unscripted() },
];
const rows: string[][] = [];
for (const r of recordings) {
  const reference = r.clips.map((c) => c.text).join(' ');
  const score = (texts: string[]) => (wer([{ reference, hypothesis: texts.join(' ') }]).wer * 100).toFixed(1);
  const seed = await transcribeSamplesWith(r.samples, 0.6);
  rows.push([r.name, 'seed protocol (0.6 s)', String(seed.length), score(seed.map((s) => s.text))]);
  for (const silence of [0.35, 0.1]) {
    const cut = await transcribeSamplesWith(r.samples, silence);
    rows.push([r.name, `cut at ${silence} s, each segment alone`, String(cut.length), score(cut.map((s) => s.text))]);
    // Way 1: each segment after its context, the context's tokens forced.
    const texts: string[] = [];
    let run: Array<{ start: number; end: number; tokens: number[] }> = [];
    for (const s of cut) {
      const last = run.at(-1);
      if (!last || s.start - last.end > CONTEXT_GAP_SECONDS || s.end - run[0]!.start > CONTEXT_MAX_SECONDS) run = [];
      const from = Math.max(0, Math.round((run[0]?.start ?? s.start) * ASR_SAMPLE_RATE) - LEAD_IN);
      const prefix = run.flatMap((p) => p.tokens);
      const t = await base.transcribe(r.samples.subarray(from, Math.round(s.end * ASR_SAMPLE_RATE)), { prefix });
      const own = (t.tokens ?? []).slice(prefix.length);
      texts.push(decodeTokens(own));
      run.push({ start: s.start, end: s.end, tokens: own });
    }
    rows.push([r.name, `cut at ${silence} s, after context (way 1)`, String(cut.length), score(texts)]);
    rows.push([r.name, `Earshot's segmentation, endpoint mapped (way 2)`, String(seed.length), score(seed.map((s) => s.text))]);
  }
}
console.log(table(['recording', 'condition', 'finals', 'WER %'], rows));
await base.dispose();
await service.dispose();

async function transcribeSamplesWith(samples: Float32Array, silence: number) {
  return (await transcribe(service, samples, { config: { postSpeechSilenceDuration: silence } })).finals;
}
