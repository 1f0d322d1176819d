/**
 * Every framework client of issue 27 on two dev recordings, against one real server, in real time: finals against
 * sentences, WER beside the seed protocol's on the same audio, and the latency of a final after the client's commit or
 * endpoint (LiveKit OpenAI realtime: its VAD's commit; LiveKit Deepgram stream: its last word's end + 25 ms, the
 * endpoint it asks for; LiveKit recognize: its VAD's end of speech, i.e. the request; REST clients: the request's round
 * trip for the whole recording; seed protocol: Earshot's own end-of-speech decision to the final, as stt_final's
 * latency_ms gives it).
 * Usage: node --import tsx bench/frameworks-bench.ts [speed]
 */
import { EarshotClient } from '../src/client/earshot-client.ts';
import { silentLogger } from '../src/server/logger.ts';
import { EarshotServer } from '../src/server/server.ts';
import { TranscriptionService } from '../src/pipeline/transcription-service.ts';
import { conversation } from '../eval/conversation.ts';
import { aiSdkDeepgram, aiSdkGroq, aiSdkOpenAI, deepgramSdkPrerecorded, wavOf } from '../eval/framework-clients/rest.ts';
import { livekitDeepgram, livekitDeepgramStream, livekitOpenAIRealtime, livekitOpenAIRest, livekitRecognize, releaseLiveKit, type ClientRun } from '../eval/framework-clients/livekit.ts';
import { table } from '../eval/stats.ts';
import { unscripted } from '../eval/unscripted.ts';
import { wer } from '../eval/wer.ts';

const speed = Number(process.argv[2] ?? 1);
const KEY = 'frameworks-bench';
const service = await TranscriptionService.load({ checkModel: null });
const server = new EarshotServer({ log: silentLogger, service, config: { host: '127.0.0.1', port: 0, token: KEY } });
await server.listen();
const http = server.url;

const recordings = [
  { name: 'dev conversation', ...conversation(undefined, 1) },
  { name: 'unscripted pauses', ...unscripted() },
];
const clients: Array<[string, (samples: Float32Array) => Promise<ClientRun>]> = [
  ['LiveKit OpenAI realtime (own VAD)', (s) => livekitOpenAIRealtime(http, KEY, s, speed)],
  ['LiveKit OpenAI useRealtime:false', (s) => livekitRecognize(livekitOpenAIRest(http, KEY), s, speed)],
  ['LiveKit Deepgram stream (defaults)', (s) => livekitDeepgramStream(http, KEY, s, speed)],
  ['LiveKit Deepgram recognize', (s) => livekitRecognize(livekitDeepgram(http, KEY), s, speed)],
  ['ai + @ai-sdk/openai (json)', (s) => aiSdkOpenAI(http, KEY, wavOf(s), false)],
  ['ai + @ai-sdk/openai (word timestamps)', (s) => aiSdkOpenAI(http, KEY, wavOf(s), true)],
  ['ai + @ai-sdk/groq', (s) => aiSdkGroq(http, KEY, wavOf(s))],
  ['ai + @ai-sdk/deepgram', (s) => aiSdkDeepgram(http, KEY, wavOf(s))],
  ['@deepgram/sdk pre-recorded', (s) => deepgramSdkPrerecorded(http, KEY, wavOf(s))],
];

const rows: string[][] = [];
for (const r of recordings) {
  const reference = r.clips.map((c) => c.text).join(' ');
  const score = (texts: string[]) => `${(wer([{ reference, hypothesis: texts.join(' ') }]).wer * 100).toFixed(1)} %`;
  const seed = await seedRun(r.samples);
  rows.push([r.name, 'seed protocol (real time)', `${seed.finals.length} / ${r.clips.length}`, score(seed.finals), '', latency(seed.latenciesMs)]);
  for (const [name, run] of clients) {
    try {
      const result = await run(r.samples);
      rows.push([r.name, name, `${result.finals.length} / ${r.clips.length}`, score(result.finals), score(seed.finals), latency(result.latenciesMs)]);
    } catch (e) {
      rows.push([r.name, name, 'failed', (e as Error).message.slice(0, 80), '', '']);
    }
    console.error(rows.at(-1)!.join(' | '));
  }
}
console.log(table(['recording', 'client', 'finals / sentences', 'WER', 'seed protocol WER', 'final after commit/endpoint p50 / p95'], rows));
await releaseLiveKit();
await server.close();
await service.dispose();

/** The seed protocol in real time: its finals and their decision-to-final latency. */
async function seedRun(samples: Float32Array): Promise<ClientRun> {
  const client = await EarshotClient.connect(`${http.replace(/^http/, 'ws')}/ws/stream`, { token: KEY });
  const finals: Array<{ text: string; latency: number }> = [];
  client.on('message', (m) => {
    if (m.type === 'stt_final') finals.push({ text: m.text, latency: m.latency_ms });
  });
  await client.start();
  await client.streamPcm(samples, { realtime: true, speed });
  await client.stop();
  await client.close();
  return { finals: finals.map((f) => f.text), latenciesMs: finals.map((f) => f.latency) };
}

function latency(ms: number[]): string {
  if (ms.length === 0) return '';
  const sorted = [...ms].sort((a, b) => a - b);
  const at = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
  return `${at(0.5)} / ${at(0.95)} ms`;
}
