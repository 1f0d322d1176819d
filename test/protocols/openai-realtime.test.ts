import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { float32ToPcm16 } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { assertSameFinals } from './same-finals.ts';
import { clip, clipSamples, conversation, disposeSharedService, finals, sharedService, startServer, transcribeOver, werOf, type TestServer } from '../server/helpers.ts';
import { selfSignedCertificate } from './tls-cert.ts';

const TOKEN = 'test-token-1234';
const CLIPS = ['cards-002.wav', 'sense_and_sensibility_01_austen_64kb-0880.wav', 'goforward.wav'].map(clip);

type Event = { type: string; [key: string]: unknown };

/** The official SDK's realtime client, pointed at Earshot over wss:// with the test's CA. */
async function connect(t: TestServer, ca: Buffer): Promise<{ rt: OpenAIRealtimeWS; events: Event[]; next(type: string, timeoutMs?: number): Promise<Event> }> {
  const client = new OpenAI({ apiKey: TOKEN, baseURL: `${t.http}/v1` });
  const rt = new OpenAIRealtimeWS({ model: 'moonshine-base', options: { ca } }, client);
  const events: Event[] = [];
  const waiters: Array<{ type: string; resolve(e: Event): void }> = [];
  let seen = 0;
  rt.on('event', (e) => {
    events.push(e as unknown as Event);
    for (const w of [...waiters]) {
      if (w.type === e.type) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(e as unknown as Event);
      }
    }
  });
  rt.on('error', () => {}); // error events are asserted from `events`
  await new Promise<void>((resolve, reject) => {
    rt.socket.once('open', () => resolve());
    rt.socket.once('error', reject);
  });
  const next = (type: string, timeoutMs = 30000) => {
    const i = events.slice(seen).findIndex((e) => e.type === type);
    if (i >= 0) {
      seen += i + 1;
      return Promise.resolve(events[seen - 1]!);
    }
    return new Promise<Event>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${type} within ${timeoutMs} ms; got ${events.map((e) => e.type).join(', ')}`)), timeoutMs);
      waiters.push({ type, resolve: (e) => (clearTimeout(timer), (seen = events.length), resolve(e)) });
    });
  };
  return { rt, events, next };
}

/** 24 kHz PCM16 (OpenAI's rate) in 100 ms base64 appends, at `speed` × real time. */
async function append(rt: OpenAIRealtimeWS, samples16k: Float32Array, speed: number): Promise<void> {
  const pcm = Buffer.from(float32ToPcm16(resample(samples16k, 16000, 24000)).buffer);
  const chunk = 4800;
  for (let i = 0; i < pcm.length; i += chunk) {
    rt.send({ type: 'input_audio_buffer.append', audio: pcm.subarray(i, i + chunk).toString('base64') });
    await new Promise((r) => setTimeout(r, 100 / speed));
  }
}

describe('OpenAI Realtime transcription (official openai SDK, wss://)', () => {
  let t: TestServer;
  /** The seed protocol on the same models, for comparison. */
  let plain: TestServer;
  const tls = selfSignedCertificate();

  before(async () => {
    t = await startServer({ service: await sharedService(), config: { tls: { cert: tls.cert, key: tls.key }, token: TOKEN } });
    plain = await startServer({ service: await sharedService() });
  });
  after(async () => {
    await t.server.close();
    await plain.server.close();
    await disposeSharedService();
  });

  test('server VAD: one item per sentence, deltas then completed, the same finals as the seed protocol', async () => {
    const { samples } = conversation(CLIPS, 1);
    const { rt, events, next } = await connect(t, tls.cert);
    assert.equal((await next('session.created')).type, 'session.created');
    rt.send({
      type: 'session.update',
      session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, turn_detection: { type: 'server_vad', silence_duration_ms: 600, prefix_padding_ms: 300 }, transcription: { model: 'moonshine-base', language: 'en' } } } },
    });
    await next('session.updated');
    await append(rt, samples, 3);
    // Trailing silence lets the last utterance end by VAD.
    await append(rt, new Float32Array(16000), 3);
    const completed: Event[] = [];
    for (let i = 0; i < CLIPS.length; i++) completed.push(await next('conversation.item.input_audio_transcription.completed'));
    rt.close();
    const texts = completed.map((e) => e.transcript as string);
    assert.ok(werOf(texts, CLIPS) <= 0.1, texts.join(' | '));
    const started = events.filter((e) => e.type === 'input_audio_buffer.speech_started');
    const committed = events.filter((e) => e.type === 'input_audio_buffer.committed');
    assert.equal(started.length, CLIPS.length);
    assert.deepEqual(committed.map((e) => e.item_id), completed.map((e) => e.item_id), 'each committed item completes, in order');
    assert.ok(events.some((e) => e.type === 'conversation.item.input_audio_transcription.delta'), 'deltas stream while speaking');
    assert.ok((started[1]!.audio_start_ms as number) > (started[0]!.audio_start_ms as number));

    // The seed protocol on the same audio gives the same finals.
    const seed = await EarshotClient.connect(plain.ws);
    const { log } = await transcribeOver(seed, samples, { realtime: true, speed: 3 });
    await seed.close();
    assertSameFinals(texts, finals(log).map((f) => f.text));
  });

  test('manual commits (turn_detection null), G.711 μ-law, and errors in OpenAI shape that lose nothing', async () => {
    const { rt, events, next } = await connect(t, tls.cert);
    await next('session.created');
    rt.send({ type: 'input_audio_buffer.commit' });
    assert.equal(((await next('error')).error as { code: string }).code, 'input_audio_buffer_commit_empty');
    rt.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcmu' }, turn_detection: null } } } });
    await next('session.updated');
    const speech = clipSamples(CLIPS[1]!);
    const pcm8k = float32ToPcm16(resample(speech, 16000, 8000));
    const ulaw = Buffer.from(Array.from(pcm8k, linearToMuLaw));
    rt.send({ type: 'input_audio_buffer.append', audio: ulaw.subarray(0, 4000).toString('base64') });
    rt.send({ type: 'input_audio_buffer.append', audio: '!!not base64!!' });
    assert.equal(((await next('error')).error as { code: string }).code, 'invalid_value');
    rt.send({ type: 'response.create' } as never);
    assert.equal(((await next('error')).error as { code: string }).code, 'invalid_event');
    rt.send({ type: 'input_audio_buffer.append', audio: ulaw.subarray(4000).toString('base64') });
    rt.send({ type: 'input_audio_buffer.append', audio: Buffer.alloc(4000, 0xff).toString('base64') });
    rt.send({ type: 'input_audio_buffer.commit' });
    const committed = await next('input_audio_buffer.committed');
    const completed = await next('conversation.item.input_audio_transcription.completed');
    assert.equal(completed.item_id, committed.item_id);
    assert.ok(werOf([completed.transcript as string], [CLIPS[1]!]) <= 0.2, completed.transcript as string);
    assert.ok(!events.some((e) => e.type === 'input_audio_buffer.speech_started'), 'no VAD events in manual mode');
    rt.close();
  });
});

/** ITU-T G.711 μ-law encoder (the test's side of the wire). */
function linearToMuLaw(sample: number): number {
  const BIAS = 0x84;
  const sign = sample < 0 ? 0x80 : 0;
  let s = Math.min(Math.abs(sample), 32635) + BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  s = ~(sign | (exponent << 4) | mantissa);
  return s & 0xff;
}
