import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { float32ToPcm16 } from '../../src/audio/pcm.ts';
import { resample } from '../../src/audio/resample.ts';
import { clip, clipSamples, concat, serverForSuite, silence, werOf, type TestServer } from '../server/helpers.ts';

type Event = { type: string; [key: string]: unknown };

/** A raw Realtime transcription connection, as LiveKit's plugin opens it (the model in the URL). */
async function connect(t: TestServer, model: string) {
  const ws = new WebSocket(`${t.http.replace(/^http/, 'ws')}/v1/realtime?intent=transcription&model=${model}`);
  const events: Event[] = [];
  const waiters: Array<() => void> = [];
  ws.on('message', (data) => {
    events.push(JSON.parse(String(data)) as Event);
    for (const w of waiters.splice(0)) w();
  });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const send = (e: Record<string, unknown>) => ws.send(JSON.stringify(e));
  /** Appends 16 kHz samples as 24 kHz PCM16 in 100 ms events, as fast as the socket takes them. */
  const append = (samples: Float32Array) => {
    const pcm = Buffer.from(float32ToPcm16(resample(samples, 16000, 24000)).buffer);
    for (let i = 0; i < pcm.length; i += 4800) send({ type: 'input_audio_buffer.append', audio: pcm.subarray(i, i + 4800).toString('base64') });
  };
  /** Waits until `count` events of `type` have arrived (a generous ceiling, never a timed assertion). */
  const until = async (type: string, count = 1) => {
    const deadline = performance.now() + 60_000;
    while (events.filter((e) => e.type === type).length < count) {
      if (performance.now() > deadline) throw new Error(`no ${count}× ${type}; got ${events.map((e) => e.type).join(', ')}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 200);
      });
    }
    return events.filter((e) => e.type === type);
  };
  return { ws, events, send, append, until };
}

/** One sentence with a 0.9 s hesitation in its middle: server VAD would cut it in two. */
function hesitantSentence(): { samples: Float32Array; text: string } {
  const c = clip('sense_and_sensibility_01_austen_64kb-0920.wav');
  const s = clipSamples(c);
  const cut = Math.round(s.length * 0.52);
  return { samples: concat(silence(0.5), s.subarray(0, cut), silence(0.9), s.subarray(cut), silence(0.6)), text: c.text };
}

describe('OpenAI Realtime turns, as OpenAI\'s', () => {
  const t = serverForSuite();

  test('gpt-realtime-whisper runs on commits: no VAD cut, one completed per commit (deltas first), an empty commit is OpenAI\'s error and the session goes on', async () => {
    const c = await connect(t, 'gpt-realtime-whisper');
    c.send({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcm', rate: 24000 }, transcription: { model: 'gpt-realtime-whisper', language: 'en' } } } } });
    await c.until('session.updated');
    c.send({ type: 'input_audio_buffer.commit' });
    const [empty] = await c.until('error');
    assert.equal((empty!.error as { code: string }).code, 'input_audio_buffer_commit_empty');

    const first = hesitantSentence();
    c.append(first.samples);
    c.send({ type: 'input_audio_buffer.commit' });
    c.append(silence(0.05)); // under 100 ms: too little to commit, and kept for the next item
    c.send({ type: 'input_audio_buffer.commit' });
    await c.until('error', 2);
    const second = clip('goforward.wav');
    c.append(concat(clipSamples(second), silence(0.5)));
    c.send({ type: 'input_audio_buffer.commit' });
    const completed = await c.until('conversation.item.input_audio_transcription.completed', 2);
    const committed = c.events.filter((e) => e.type === 'input_audio_buffer.committed');
    assert.deepEqual(committed.map((e) => e.item_id), completed.map((e) => e.item_id), 'one completed per commit, in order');
    assert.ok(!c.events.some((e) => e.type === 'input_audio_buffer.speech_started'), 'no server VAD');
    assert.ok(werOf([completed[0]!.transcript as string], [{ ...second, text: first.text }]) <= 0.1, String(completed[0]!.transcript));
    assert.ok(werOf([completed[1]!.transcript as string], [second]) <= 0.1, String(completed[1]!.transcript));
    for (const item of completed) {
      const deltas = c.events.filter((e) => e.type === 'conversation.item.input_audio_transcription.delta' && e.item_id === item.item_id);
      assert.ok(deltas.length > 0, 'deltas before completed');
      assert.ok(c.events.indexOf(deltas.at(-1)!) < c.events.indexOf(item));
    }
    c.ws.close();
  });

  test('server VAD: a commit during speech ends that turn at once; session.update takes prompt, keywords, languages, noise_reduction, include', async () => {
    const c = await connect(t, 'gpt-4o-transcribe');
    c.send({
      type: 'session.update',
      session: {
        type: 'transcription',
        include: ['item.input_audio_transcription.logprobs'],
        audio: {
          input: {
            transcription: { model: 'gpt-4o-transcribe', prompt: 'card games', keywords: ['clubs'], languages: ['en'] },
            noise_reduction: { type: 'near_field' },
            turn_detection: { type: 'server_vad', silence_duration_ms: 350, prefix_padding_ms: 300, threshold: 0.5 },
          },
        },
      },
    });
    const [updated] = await c.until('session.updated');
    const session = updated!.session as { include: string[]; audio: { input: { transcription: Record<string, unknown>; noise_reduction: unknown; turn_detection: Record<string, unknown> } } };
    assert.deepEqual(session.include, ['item.input_audio_transcription.logprobs']);
    assert.deepEqual(session.audio.input.noise_reduction, { type: 'near_field' });
    assert.equal(session.audio.input.transcription.prompt, 'card games');
    assert.deepEqual(session.audio.input.transcription.keywords, ['clubs']);
    assert.equal(session.audio.input.turn_detection.silence_duration_ms, 350);

    const sentence = clipSamples(clip('sense_and_sensibility_01_austen_64kb-0870.wav'));
    c.append(concat(silence(0.5), sentence.subarray(0, Math.round(sentence.length / 2))));
    await c.until('input_audio_buffer.speech_started');
    c.send({ type: 'input_audio_buffer.commit' });
    const [done] = await c.until('conversation.item.input_audio_transcription.completed');
    const [started] = await c.until('input_audio_buffer.speech_started');
    assert.equal(done!.item_id, started!.item_id);
    assert.ok((done!.transcript as string).split(' ').length >= 5, String(done!.transcript));
    c.ws.close();
  });
});
