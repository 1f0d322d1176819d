import { inference, initializeLogger, stt as lkstt } from '@livekit/agents';
import * as deepgram from '@livekit/agents-plugin-deepgram';
import * as openai from '@livekit/agents-plugin-openai';
import { AudioFrame, dispose } from '@livekit/rtc-node';
import { float32ToPcm16 } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';

/**
 * LiveKit Agents' STT plugins as an agent uses them, without a room: frames pushed into the plugin's stream (at
 * `speed` × real time), its speech events read back. What each run gives: the finals' texts in order and, per final,
 * the milliseconds from the client's end of a turn (its own VAD's commit, or the endpoint Deepgram's endpointing asks
 * for) to the final's arrival.
 */
export interface ClientRun {
  finals: string[];
  latenciesMs: number[];
}

let logger = false;
function quietLogger(): void {
  if (!logger) initializeLogger({ pretty: false, level: 'fatal' });
  logger = true;
}

/** LiveKit's VAD teardown throws this after the last frame (its VAD stream's writer is still held): the library's. */
export function isLiveKitTeardownError(e: unknown): boolean {
  return e instanceof Error && /WritableStream is locked/.test(e.message);
}

/**
 * LiveKit's own VAD (what the plugins use by default), watched: `heardMs` is how much of the pushed audio it has been
 * through (a run is over only when it has heard it all and every turn it found is answered). Its streams' input
 * closing tolerates the library's teardown error, a rejection nobody handles that would otherwise end the process
 * once the results are in.
 */
function watchedVAD(): { vad: inference.VAD; heard: { ms: number } } {
  const vad = new inference.VAD();
  const heard = { ms: 0 };
  const open = vad.stream.bind(vad);
  vad.stream = (...args: Parameters<typeof vad.stream>) => {
    const stream = open(...args);
    const writable = (stream as unknown as { input: TransformStream }).input.writable;
    const close = writable.close.bind(writable);
    writable.close = () =>
      close().catch((e: unknown) => {
        if (!isLiveKitTeardownError(e)) throw e;
      });
    const next = stream.next.bind(stream);
    stream.next = async () => {
      const result = await next();
      if (!result.done) heard.ms = Math.max(heard.ms, result.value.timestamp);
      return result;
    };
    return stream;
  };
  return { vad, heard };
}

/** The VAD has been through all of `samples` (16 kHz) but its last window. */
function heardAll(heard: { ms: number }, samples: Float32Array): boolean {
  return heard.ms >= (samples.length / 16000) * 1000 - 100;
}

/**
 * Shuts LiveKit's native side down (what its agent worker does on exit): its audio resampler's runtime otherwise keeps
 * the process alive after the last stream. Call once, when done with every LiveKit client.
 */
export async function releaseLiveKit(): Promise<void> {
  await dispose();
}

const FRAME_MS = 20;

/** Pushes `samples` (16 kHz) as `rate` Hz frames at `speed` × real time; returns the wall time each frame went. */
async function pushFrames(stream: lkstt.SpeechStream, samples: Float32Array, rate: number, speed: number, sentAt: number[]): Promise<void> {
  const pcm = float32ToPcm16(rate === 16000 ? samples : resample(samples, 16000, rate));
  const step = (rate * FRAME_MS) / 1000;
  const started = performance.now();
  for (let i = 0, n = 0; i < pcm.length; i += step, n++) {
    const frame = pcm.slice(i, i + step);
    stream.pushFrame(new AudioFrame(frame, rate, 1, frame.length));
    sentAt.push(performance.now());
    const due = started + ((n + 1) * FRAME_MS) / speed;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
}

/** Reads a stream's events until `done` says so (or the stream ends). */
async function readEvents(stream: lkstt.SpeechStream, onEvent: (e: lkstt.SpeechEvent, at: number) => void): Promise<void> {
  for await (const e of stream) onEvent(e, performance.now());
}

async function settle(check: () => boolean, ceilingMs: number, what: string): Promise<void> {
  const until = performance.now() + ceilingMs;
  while (!check()) {
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * @livekit/agents-plugin-openai streaming: the default realtime model (gpt-realtime-whisper) with the plugin's own VAD
 * committing at each end of speech. Done when every commit (END_OF_SPEECH) has had its item's usage event (sent for
 * every completed item, with words or without).
 */
export async function livekitOpenAIRealtime(http: string, apiKey: string, samples: Float32Array, speed: number): Promise<ClientRun> {
  quietLogger();
  const { vad, heard } = watchedVAD();
  const client = new openai.STT({ baseURL: `${http}/v1`, apiKey, vad });
  const stream = client.stream();
  const finals: string[] = [];
  const latenciesMs: number[] = [];
  let starts = 0;
  let commits = 0;
  let usages = 0;
  let committedAt = 0;
  const reading = readEvents(stream, (e, at) => {
    if (e.type === lkstt.SpeechEventType.START_OF_SPEECH) starts++;
    else if (e.type === lkstt.SpeechEventType.END_OF_SPEECH) {
      commits++;
      committedAt = at;
    } else if (e.type === lkstt.SpeechEventType.FINAL_TRANSCRIPT) {
      finals.push(e.alternatives![0].text);
      latenciesMs.push(at - committedAt);
    } else if (e.type === lkstt.SpeechEventType.RECOGNITION_USAGE) usages++;
  });
  await pushFrames(stream, samples, 24000, speed, []);
  await settle(() => heardAll(heard, samples) && starts === commits && usages >= commits, 120_000, 'every commit to complete');
  stream.close();
  await reading;
  await client.close();
  return { finals, latenciesMs };
}

/**
 * A non-streaming LiveKit STT as an agent runs it: StreamAdapter with LiveKit's VAD, recognize() per utterance
 * (the OpenAI plugin with useRealtime: false, the Deepgram plugin's pre-recorded recognize).
 */
export async function livekitRecognize(engine: lkstt.STT, samples: Float32Array, speed: number): Promise<ClientRun> {
  quietLogger();
  const { vad, heard } = watchedVAD();
  // The adapter drops empty or failed answers: count the requests that came back, and those with words.
  let recognized = 0;
  let withWords = 0;
  const recognize = engine.recognize.bind(engine);
  engine.recognize = (...args: Parameters<typeof engine.recognize>) =>
    recognize(...args)
      .then((e) => {
        if (e.alternatives?.[0]?.text) withWords++;
        return e;
      })
      .finally(() => recognized++);
  const adapter = new lkstt.StreamAdapter(engine, vad);
  const stream = adapter.stream();
  const finals: string[] = [];
  const latenciesMs: number[] = [];
  let starts = 0;
  let ends = 0;
  let endedAt = 0;
  const reading = readEvents(stream, (e, at) => {
    if (e.type === lkstt.SpeechEventType.START_OF_SPEECH) starts++;
    else if (e.type === lkstt.SpeechEventType.END_OF_SPEECH) {
      ends++;
      endedAt = at;
    } else if (e.type === lkstt.SpeechEventType.FINAL_TRANSCRIPT && e.alternatives?.[0]?.text) {
      finals.push(e.alternatives[0].text);
      latenciesMs.push(at - endedAt);
    }
  });
  await pushFrames(stream, samples, 16000, speed, []);
  await settle(() => heardAll(heard, samples) && starts === ends && recognized >= ends && finals.length >= withWords, 120_000, 'every utterance to be recognized');
  stream.close();
  await reading;
  return { finals, latenciesMs };
}

export function livekitOpenAIRest(http: string, apiKey: string): lkstt.STT {
  quietLogger();
  return new openai.STT({ baseURL: `${http}/v1`, apiKey, useRealtime: false });
}

export function livekitDeepgram(http: string, apiKey: string): deepgram.STT {
  quietLogger();
  return new deepgram.STT({ baseUrl: http.replace(/^http/, 'ws'), apiKey });
}

/**
 * @livekit/agents-plugin-deepgram streaming with its defaults (endpointing 25 ms, interim results, no_delay,
 * smart_format, vad_events …). The plugin drops audio after a second of silence (its energy filter), so the
 * server's stream clock is mapped back to the pushed audio by the same rule to time each final against the endpoint
 * its endpointing asks for (its last word's end + 25 ms). Done when the stream ends after flush and CloseStream.
 */
export async function livekitDeepgramStream(http: string, apiKey: string, samples: Float32Array, speed: number): Promise<ClientRun> {
  quietLogger();
  const client = livekitDeepgram(http, apiKey);
  const stream = client.stream();
  const finals: string[] = [];
  const arrivals: Array<{ at: number; end: number }> = [];
  const reading = readEvents(stream, (e, at) => {
    if (e.type !== lkstt.SpeechEventType.FINAL_TRANSCRIPT || !e.alternatives?.[0]?.text) return;
    finals.push(e.alternatives[0].text);
    arrivals.push({ at, end: e.alternatives[0].endTime });
  });
  const sentAt: number[] = [];
  await pushFrames(stream, samples, 16000, speed, sentAt);
  stream.flush();
  stream.endInput();
  await reading;
  await client.close();
  // Server seconds → index of the 20 ms frame pushed: only the 100 ms blocks LiveKit's energy filter passed count.
  const kept = energyFilterKept(samples);
  const latenciesMs = arrivals.map(({ at, end }) => {
    const block = kept[Math.min(kept.length - 1, Math.floor((end + 0.025) * 10))] ?? 0;
    const frame = Math.min(sentAt.length - 1, Math.ceil(((block + 1) * 100) / FRAME_MS) - 1);
    return at - sentAt[frame]!;
  });
  return { finals, latenciesMs };
}

/** The 100 ms blocks (by index) that LiveKit's AudioEnergyFilter sends: loud ones and a second after each. */
function energyFilterKept(samples: Float32Array): number[] {
  const kept: number[] = [];
  let cooldown = 1;
  for (let b = 0; b * 1600 < samples.length; b++) {
    const block = samples.subarray(b * 1600, (b + 1) * 1600);
    const rms = Math.sqrt(block.reduce((s, x) => s + Math.round(x * 32767) ** 2 / 32768 ** 2, 0) / block.length);
    if (rms > 4e-3) cooldown = 1;
    else cooldown -= block.length / 16000;
    if (rms > 4e-3 || cooldown > 0) kept.push(b);
  }
  return kept;
}
