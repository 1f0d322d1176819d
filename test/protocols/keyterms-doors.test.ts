import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import WebSocket from 'ws';
import { float32ToPcm16 } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { writeWav } from '../../src/audio/wav.ts';
import { clip, clipSamples, concat, serverForSuite, silence, waitFor } from '../server/helpers.ts';

/** cards-002.wav: moonshine-base writes "Four queen of gloves" (or "cloves"); the speaker says "clubs". */
const CARDS_SAMPLES = concat(silence(0.3), clipSamples(clip('cards-002.wav')), silence(1));
const CARDS = writeWav(CARDS_SAMPLES, 16000);

type Event = { type: string; [key: string]: unknown };

/** A raw JSON WebSocket: every event it got, and a wait for the next of a type. */
async function jsonSocket(url: string): Promise<{ ws: WebSocket; events: Event[]; next(type: string, from?: number): Promise<Event> }> {
  const ws = new WebSocket(url);
  const events: Event[] = [];
  ws.on('message', (data, binary) => {
    if (!binary) events.push(JSON.parse(data.toString()) as Event);
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const next = async (type: string, from = 0) => {
    await waitFor(() => events.slice(from).some((e) => e.type === type), 60_000, type);
    return events.slice(from).find((e) => e.type === type)!;
  };
  return { ws, events, next };
}

describe('keyterms through every door (real server, real models, real speech)', () => {
  const t = serverForSuite();

  test('OpenAI REST: `prompt` (its words) and `keywords` set keyterms; a bad keyword is a 400 invalid_request_error', async () => {
    const openai = new OpenAI({ apiKey: 'unused', baseURL: `${t.http}/v1` });
    const file = () => toFile(CARDS, 'cards.wav', { type: 'audio/wav' });
    assert.doesNotMatch((await openai.audio.transcriptions.create({ file: await file(), model: 'whisper-1' })).text, /clubs/i);
    const prompted = await openai.audio.transcriptions.create({ file: await file(), model: 'whisper-1', prompt: 'A card game: the four suits are clubs, spades, hearts and diamonds.' });
    assert.match(prompted.text, /queen of clubs/i);
    const post = (keywords: string[]) => {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(CARDS)], { type: 'audio/wav' }), 'cards.wav');
      for (const k of keywords) form.append('keywords[]', k);
      return fetch(`${t.http}/v1/audio/transcriptions`, { method: 'POST', body: form });
    };
    const keyworded = await post(['clubs', 'Dashwood:2']);
    assert.equal(keyworded.status, 200);
    assert.match(((await keyworded.json()) as { text: string }).text, /queen of clubs/i);
    const long = 'z'.repeat(51);
    const refused = await post(['clubs', long]);
    assert.equal(refused.status, 400);
    const { error } = (await refused.json()) as { error: { type: string; code: string; message: string } };
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.code, 'BAD_KEYTERMS');
    assert.match(error.message, new RegExp(`"${long}"`));
  });

  test('OpenAI Realtime: transcription.keywords / prompt, replaced by session.update mid-stream; bad keywords: an error event, the session goes on', async () => {
    const { ws, events, next } = await jsonSocket(`${t.http.replace(/^http/, 'ws')}/v1/realtime?intent=transcription`);
    const update = (transcription: Record<string, unknown>) =>
      ws.send(JSON.stringify({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, transcription } } } }));
    const pcm = Buffer.from(float32ToPcm16(resample(CARDS_SAMPLES, 16000, 24000)).buffer);
    const say = async () => {
      const from = events.length;
      for (let i = 0; i < pcm.length; i += 4800) ws.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: pcm.subarray(i, i + 4800).toString('base64') }));
      return String((await next('conversation.item.input_audio_transcription.completed', from)).transcript);
    };
    let from = events.length;
    update({ model: 'gpt-4o-transcribe', keywords: ['clubs', 'y'.repeat(51)] });
    const error = (await next('error', from)) as { error?: { code: string; message: string } };
    assert.equal(error.error?.code, 'BAD_KEYTERMS');
    assert.match(error.error!.message, /"y{51}"/);
    assert.doesNotMatch(await say(), /clubs/i);
    from = events.length;
    update({ model: 'gpt-4o-transcribe', prompt: 'A card game: the suits are clubs, spades, hearts and diamonds.', keywords: ['clubs:2'] });
    await next('session.updated', from);
    assert.match(await say(), /queen of clubs/i, 'the listening stream took the prompt\'s words');
    ws.close();
  });

  test('Deepgram live: keyterm and keywords in the query, Configure mid-stream; a bad term: 400 at the handshake, ConfigureFailure mid-stream', async () => {
    const listen = (query: string) => `${t.http.replace(/^http/, 'ws')}/v1/listen?encoding=linear16&sample_rate=16000&${query}`;
    const pcm = Buffer.from(float32ToPcm16(CARDS_SAMPLES).buffer);
    const finalText = async ({ ws, events, next }: Awaited<ReturnType<typeof jsonSocket>>) => {
      const from = events.length;
      for (let i = 0; i < pcm.length; i += 3200) ws.send(pcm.subarray(i, i + 3200));
      ws.send(JSON.stringify({ type: 'Finalize' }));
      await waitFor(() => events.slice(from).some((e) => e.type === 'Results' && e.is_final === true), 60_000, 'a final Results');
      await next('Results', from);
      const results = events.slice(from).filter((e) => e.type === 'Results' && e.is_final === true) as unknown as Array<{ channel: { alternatives: Array<{ transcript: string }> } }>;
      return results.map((r) => r.channel.alternatives[0]!.transcript).join(' ');
    };
    const refused = await new Promise<{ status: number; body: string }>((resolve) => {
      const ws = new WebSocket(listen(`keyterm=${'w'.repeat(51)}`));
      ws.on('error', () => {});
      ws.on('open', () => resolve({ status: 101, body: '' }));
      ws.on('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      });
    });
    assert.equal(refused.status, 400);
    assert.match(refused.body, /longer than 50 characters/);

    const keyworded = await jsonSocket(listen('keyterm=Dashwood&keywords=clubs:2'));
    assert.match(await finalText(keyworded), /queen of clubs/i);
    keyworded.ws.close();

    const live = await jsonSocket(listen('interim_results=false'));
    assert.doesNotMatch(await finalText(live), /clubs/i);
    let from = live.events.length;
    live.ws.send(JSON.stringify({ type: 'Configure', keyterms: ['clubs:2'] }));
    assert.deepEqual((await live.next('ConfigureSuccess', from)).keyterms, ['clubs']);
    assert.match(await finalText(live), /queen of clubs/i);
    from = live.events.length;
    live.ws.send(JSON.stringify({ type: 'Configure', keyterms: ['smile 😀'] }));
    await live.next('ConfigureFailure', from);
    assert.equal((await live.next('Error', from)).variant, 'BAD_KEYTERMS');
    assert.match(await finalText(live), /queen of clubs/i, 'the previous keyterms stay');
    live.ws.close();
  });

  test('Deepgram pre-recorded (POST /v1/listen): keyterm and keywords in the query; a bad term is 400 BAD_KEYTERMS', async () => {
    const listen = (query: string) => fetch(`${t.http}/v1/listen?model=nova-3&${query}`, { method: 'POST', headers: { 'Content-Type': 'audio/wav' }, body: new Uint8Array(CARDS) });
    const transcript = async (r: Response) => {
      assert.equal(r.status, 200);
      return ((await r.json()) as { results: { channels: Array<{ alternatives: Array<{ transcript: string }> }> } }).results.channels[0]!.alternatives[0]!.transcript;
    };
    assert.doesNotMatch(await transcript(await listen('punctuate=true')), /clubs/i);
    assert.match(await transcript(await listen('keyterm=clubs&keyterm=Dashwood')), /queen of clubs/i);
    assert.match(await transcript(await listen('keywords=clubs:2')), /queen of clubs/i);
    const refused = await listen(`keyterm=${'v'.repeat(51)}`);
    assert.equal(refused.status, 400);
    assert.match(JSON.stringify(await refused.json()), /BAD_KEYTERMS.*longer than 50 characters|longer than 50 characters.*BAD_KEYTERMS/);
  });
});
