import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeepgramClient } from '@deepgram/sdk';
import WebSocket from 'ws';
import { float32ToPcm16 } from '../../src/audio/pcm.ts';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { assertSameFinals } from './same-finals.ts';
import { clip, conversation, finals, serverForSuite, transcribeOver, werOf } from '../server/helpers.ts';

const TOKEN = 'deepgram-test-key';
const CLIPS = ['cards-002.wav', 'sense_and_sensibility_01_austen_64kb-0880.wav', 'goforward.wav'].map(clip);

type Message = { type: string; is_final?: boolean; speech_final?: boolean; channel?: { alternatives: Array<{ transcript: string }> }; duration?: number };

describe('Deepgram live (official @deepgram/sdk)', () => {
  const t = serverForSuite({ config: { token: TOKEN } });

  test('Results (interim and final), SpeechStarted, UtteranceEnd, Metadata on CloseStream; the seed protocol\'s finals', async () => {
    const client = new DeepgramClient({ apiKey: TOKEN, baseUrl: t.http.replace(/^http/, 'ws') });
    const connection = await client.listen.v1.connect({
      model: 'moonshine-base',
      encoding: 'linear16',
      sample_rate: 16000,
      interim_results: 'true',
      vad_events: 'true',
      utterance_end_ms: '1000',
    } as never);
    const messages: Message[] = [];
    connection.on('message', (m: unknown) => messages.push(m as Message));
    const closed = new Promise<void>((resolve) => connection.on('close', () => resolve()));
    connection.connect();
    await connection.waitForOpen();

    const { samples } = conversation(CLIPS, 1);
    const pcm = Buffer.from(float32ToPcm16(samples).buffer);
    for (let i = 0; i < pcm.length; i += 3200) {
      connection.sendMedia(pcm.subarray(i, i + 3200));
      await new Promise((r) => setTimeout(r, 30));
    }
    connection.sendKeepAlive({ type: 'KeepAlive' });
    connection.sendCloseStream({ type: 'CloseStream' });
    await closed;

    const finalTexts = messages.filter((m) => m.type === 'Results' && m.is_final).map((m) => m.channel!.alternatives[0]!.transcript);
    assert.equal(finalTexts.length, CLIPS.length, JSON.stringify(messages.map((m) => m.type)));
    assert.ok(messages.some((m) => m.type === 'Results' && m.is_final === false), 'interim results');
    assert.equal(messages.filter((m) => m.type === 'SpeechStarted').length, CLIPS.length);
    assert.equal(messages.filter((m) => m.type === 'UtteranceEnd').length, CLIPS.length);
    const metadata = messages.at(-1)!;
    assert.equal(metadata.type, 'Metadata');
    assert.ok(Math.abs(metadata.duration! - samples.length / 16000) < 0.01);
    assert.ok(werOf(finalTexts, CLIPS) <= 0.1, finalTexts.join(' | '));

    const seed = await EarshotClient.connect(t.ws, { token: TOKEN });
    const { log } = await transcribeOver(seed, samples);
    await seed.close();
    assertSameFinals(finalTexts, finals(log).map((f) => f.text));
  });

  test('a wrong key or a bad query is refused at the handshake; Finalize flushes what was said', async () => {
    const status = (url: string, headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => (ws.close(), resolve(101)));
        ws.on('error', () => {});
      });
    const base = t.http.replace(/^http/, 'ws');
    assert.equal(await status(`${base}/v1/listen`, { Authorization: 'Token wrong-key-123' }), 401);
    assert.equal(await status(`${base}/v1/listen?encoding=opus`, { Authorization: `Token ${TOKEN}` }), 400);
    // A browser cannot set headers: Deepgram's client offers the subprotocols `token, KEY`; the server selects `token`.
    const browser = new WebSocket(`${base}/v1/listen`, ['token', TOKEN]);
    await new Promise((resolve, reject) => browser.once('open', resolve).once('error', reject));
    assert.equal(browser.protocol, 'token');
    browser.close();

    const client = new DeepgramClient({ apiKey: TOKEN, baseUrl: base });
    const connection = await client.listen.v1.connect({ model: 'x', encoding: 'linear16', sample_rate: 16000 } as never);
    const messages: Message[] = [];
    connection.on('message', (m: unknown) => messages.push(m as Message));
    connection.connect();
    await connection.waitForOpen();
    // One sentence with no trailing silence: only Finalize can end it.
    const pcm = Buffer.from(float32ToPcm16(conversation([CLIPS[1]!], 0).samples).buffer);
    connection.sendMedia(pcm.subarray(0, 16000));
    // A bad control message is answered with an Error message; the stream goes on and loses nothing.
    connection.sendKeepAlive({ type: 'Dance' } as never);
    connection.sendMedia(pcm.subarray(16000));
    connection.sendFinalize({ type: 'Finalize' });
    const until = Date.now() + 30000;
    while (!messages.some((m) => m.type === 'Results' && m.is_final) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    const final = messages.find((m) => m.type === 'Results' && m.is_final) as Message & { from_finalize?: boolean };
    assert.ok(final, 'a final after Finalize');
    assert.equal(final.from_finalize, true);
    assert.ok(messages.some((m) => m.type === 'Error' && (m as { variant?: string }).variant === 'UNKNOWN_TYPE'), 'an Error message for the bad frame');
    assert.ok(werOf([final.channel!.alternatives[0]!.transcript], [CLIPS[1]!]) <= 0.1);
    connection.close();
  });
});
