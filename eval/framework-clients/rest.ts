import { createDeepgram } from '@ai-sdk/deepgram';
import { createGroq } from '@ai-sdk/groq';
import { createOpenAI } from '@ai-sdk/openai';
import { DeepgramClient } from '@deepgram/sdk';
import { experimental_transcribe as transcribe } from 'ai';
import { writeWav } from '../../src/audio/wav.ts';
import type { ClientRun } from './livekit.ts';

/**
 * Clients that send a whole recording at once, as their users call them, each pointed at Earshot by its base URL (or,
 * for @ai-sdk/deepgram, which has none, a fetch that sends its requests there). A run's finals are the answer's
 * segments (verbose_json) or utterances (Deepgram), or its one text; its latency the request's round trip.
 */
export interface RestRun extends ClientRun {
  /** The answer as the client parsed it, for checks of its shape. */
  body: unknown;
}

export function wavOf(samples: Float32Array): Uint8Array {
  return new Uint8Array(writeWav(samples, 16000));
}

async function timed<T>(call: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await call();
  return { value, ms: performance.now() - started };
}

/** `ai` with @ai-sdk/openai: plain (json) or with word timestamps (verbose_json, validated by the provider). */
export async function aiSdkOpenAI(http: string, apiKey: string, wav: Uint8Array, words: boolean): Promise<RestRun> {
  const provider = createOpenAI({ baseURL: `${http}/v1`, apiKey });
  const { value, ms } = await timed(() =>
    transcribe({ model: provider.transcription('whisper-1'), audio: wav, ...(words ? { providerOptions: { openai: { timestampGranularities: ['word'] } } } : {}) }),
  );
  return { finals: value.segments.length ? value.segments.map((s) => s.text) : [value.text], latenciesMs: [ms], body: value };
}

/** `ai` with @ai-sdk/groq (its whisper models answer verbose_json; the provider validates every segment field). */
export async function aiSdkGroq(http: string, apiKey: string, wav: Uint8Array): Promise<RestRun> {
  const provider = createGroq({ baseURL: `${http}/v1`, apiKey });
  const { value, ms } = await timed(() => transcribe({ model: provider.transcription('whisper-large-v3-turbo'), audio: wav, providerOptions: { groq: { responseFormat: 'verbose_json' } } }));
  return { finals: value.segments.length ? value.segments.map((s) => s.text) : [value.text], latenciesMs: [ms], body: value };
}

/** `ai` with @ai-sdk/deepgram, which always calls api.deepgram.com: its fetch sends the request to Earshot instead. */
export async function aiSdkDeepgram(http: string, apiKey: string, wav: Uint8Array): Promise<RestRun> {
  // The provider reads only the words; the utterances (one per final) are read from the answer as it passes.
  let body: { results?: { utterances?: Array<{ transcript: string }> } } | undefined;
  const provider = createDeepgram({
    apiKey,
    fetch: async (input, init) => {
      const response = await fetch(String(input instanceof Request ? input.url : input).replace('https://api.deepgram.com', http), init);
      body = (await response.clone().json()) as typeof body;
      return response;
    },
  });
  const { value, ms } = await timed(() => transcribe({ model: provider.transcription('nova-3'), audio: wav, providerOptions: { deepgram: { utterances: true, smartFormat: true } } }));
  return { finals: body?.results?.utterances?.map((u) => u.transcript) ?? [value.text], latenciesMs: [ms], body: { value, body } };
}

/** @deepgram/sdk pre-recorded: listen.v1.media.transcribeFile with utterances. */
export async function deepgramSdkPrerecorded(http: string, apiKey: string, wav: Uint8Array): Promise<RestRun> {
  const client = new DeepgramClient({ apiKey, baseUrl: http });
  const { value, ms } = await timed(() => client.listen.v1.media.transcribeFile(Buffer.from(wav), { model: 'nova-3', utterances: true, smart_format: true, punctuate: true }));
  const body = value as { results?: { utterances?: Array<{ transcript: string }>; channels: Array<{ alternatives: Array<{ transcript: string }> }> } };
  const finals = body.results?.utterances?.map((u) => u.transcript) ?? [body.results?.channels[0]?.alternatives[0]?.transcript ?? ''];
  return { finals, latenciesMs: [ms], body };
}
