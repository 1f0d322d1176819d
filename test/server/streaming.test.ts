import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resample } from '../../src/audio/resample.ts';
import { EarshotClient, toPcm16 } from '../../src/client/earshot-client.ts';
import type { ServerMessage } from '../../src/protocol/seed-messages.ts';
import { metricTotal } from '../../src/server/metrics.ts';
import { clip, clipSamples, concat, conversation, finals, record, sharedService, silence, startServer, transcribeOver, werOf, serverForSuite } from './helpers.ts';
import { normalizeWords } from '../../eval/wer.ts';

describe('WebSocket streaming', () => {
  const t = serverForSuite();

  test('a conversation streamed at real time gives one final per clip, in order, WER ≤ 5%', async () => {
    const clips = [
      clip('sense_and_sensibility_01_austen_64kb-0880.wav'),
      clip('cards-003.wav'),
      clip('sense_and_sensibility_01_austen_64kb-0930.wav'),
      clip('goforward.wav'),
    ];
    const { samples } = conversation(clips, 1);
    const client = await EarshotClient.connect(t.ws);
    const started = performance.now();
    const { log } = await transcribeOver(client, samples, { sessionId: 'client-chosen-id-1', realtime: true });
    const wall = (performance.now() - started) / 1000;
    await client.close();

    const listening = log.find((m) => m.type === 'stt_listening');
    assert.deepEqual(listening, { type: 'stt_listening', session_id: 'client-chosen-id-1', sample_rate: 16000 });
    assert.equal(log[0]!.type, 'stt_listening');
    for (const m of log) if (m.type !== 'pong') assert.equal(m.session_id, 'client-chosen-id-1', `${m.type} carries the client's id`);

    const f = finals(log);
    assert.equal(f.length, clips.length, `finals: ${JSON.stringify(f.map((x) => x.text))}`);
    assert.deepEqual(f.map((x) => x.utterance), [1, 2, 3, 4]);
    const w = werOf(f.map((x) => x.text), clips);
    assert.ok(w <= 0.05, `WER ${(w * 100).toFixed(1)}%: ${f.map((x) => x.text).join(' | ')}`);
    for (const x of f) {
      assert.ok(x.end > x.start && x.latency_ms >= 0 && x.processing_ms > 0, JSON.stringify(x));
    }
    // Event order per utterance: recording_start … recording_stop … final; partials arrive while recording.
    const types = log.map((m) => m.type);
    assert.ok(types.includes('stt_update'), 'realtime partials were sent');
    assert.ok(types.includes('stt_vad_start') && types.includes('stt_vad_stop'));
    for (const x of f) {
      const start = log.findIndex((m) => m.type === 'stt_recording_start' && m.utterance === x.utterance);
      const stop = log.findIndex((m) => m.type === 'stt_recording_stop' && m.utterance === x.utterance);
      assert.ok(start >= 0 && start < stop && stop < log.indexOf(x), `order of utterance ${x.utterance}`);
    }
    assert.deepEqual(log.at(-1), { type: 'stt_state', state: 'idle', session_id: 'client-chosen-id-1' });
    const latencies = f.map((x) => x.latency_ms);
    console.log(
      `# real-time conversation: ${(samples.length / 16000).toFixed(1)} s audio in ${wall.toFixed(1)} s; final latency after end-of-speech decision ms: ${latencies.join(', ')}; ` +
        `partials: ${types.filter((x) => x === 'stt_update').length}, stabilized: ${types.filter((x) => x === 'stt_stabilized').length}`,
    );
  });

  test('stt_stop in the middle of an utterance still delivers its final, before stt_state idle', async () => {
    const c = clip('sense_and_sensibility_01_austen_64kb-0870.wav');
    const speech = clipSamples(c);
    const part = speech.subarray(0, Math.round(speech.length * 0.6));
    const client = await EarshotClient.connect(t.ws);
    const { log } = await transcribeOver(client, concat(silence(0.5), part), { sessionId: 'mid-stop' });
    await client.close();
    const f = finals(log);
    assert.equal(f.length, 1, JSON.stringify(log.map((m) => m.type)));
    const words = normalizeWords(f[0]!.text);
    assert.deepEqual(words.slice(0, 6), normalizeWords(c.text).slice(0, 6), f[0]!.text);
    assert.ok(log.indexOf(f[0]!) < log.findIndex((m) => m.type === 'stt_state' && m.state === 'idle'));
  });

  test('one connection runs several start/stop cycles, each with its own session_id', async () => {
    const client = await EarshotClient.connect(t.ws);
    const a = clip('cards-004.wav');
    const b = clip('sense_and_sensibility_01_austen_64kb-0880.wav');
    const first = await transcribeOver(client, concat(silence(0.3), clipSamples(a), silence(0.3)), { sessionId: 'cycle-a' });
    const second = await transcribeOver(client, concat(silence(0.3), clipSamples(b), silence(0.3)), { sessionId: 'cycle-b' });
    await client.close();
    assert.deepEqual(finals(first.log).map((m) => m.session_id), ['cycle-a']);
    assert.ok(werOf(finals(first.log).map((m) => m.text), [a]) <= 0.05);
    const secondFinals = finals(second.log);
    assert.equal(secondFinals.length, 1);
    assert.equal(secondFinals[0]!.session_id, 'cycle-b');
    assert.equal(secondFinals[0]!.utterance, 1, 'utterances count per cycle');
    assert.ok(werOf([secondFinals[0]!.text], [b]) <= 0.05, secondFinals[0]!.text);
  });

  test('stt_start while listening restarts: the running utterance is finalized under the old id, then the new id listens', async () => {
    const client = await EarshotClient.connect(t.ws);
    const log = record(client);
    await client.start('old-id');
    const c = clip('sense_and_sensibility_01_austen_64kb-0930.wav');
    await client.streamPcm(concat(silence(0.3), clipSamples(c)), { realtime: false });
    await client.start('new-id'); // resolves on stt_listening for new-id
    await client.stop();
    await client.close();
    const f = finals(log);
    assert.equal(f.length, 1);
    assert.equal(f[0]!.session_id, 'old-id');
    assert.ok(werOf([f[0]!.text], [c]) <= 0.05, f[0]!.text);
    const oldIdle = log.findIndex((m) => m.type === 'stt_state' && m.state === 'idle' && m.session_id === 'old-id');
    const newListening = log.findIndex((m) => m.type === 'stt_listening' && m.session_id === 'new-id');
    assert.ok(log.indexOf(f[0]!) < oldIdle && oldIdle < newListening, log.map((m) => `${m.type}:${'session_id' in m ? m.session_id : ''}`).join(' '));
  });

  test('sample_rate on stt_start: 48 kHz and 8 kHz audio are resampled', async () => {
    const c = clip('goforward.wav');
    const audio = concat(silence(0.3), clipSamples(c), silence(0.3));
    for (const rate of [48000, 8000]) {
      const client = await EarshotClient.connect(t.ws);
      const { log } = await transcribeOver(client, resample(audio, 16000, rate), { sampleRate: rate, sessionId: `rate-${rate}` });
      await client.close();
      const f = finals(log);
      assert.equal(f.length, 1, `${rate}: ${JSON.stringify(f)}`);
      assert.ok(werOf([f[0]!.text], [c]) <= 0.05, `${rate}: ${f[0]!.text}`);
      assert.equal((log.find((m) => m.type === 'stt_listening') as Extract<ServerMessage, { type: 'stt_listening' }>).sample_rate, rate);
    }
  });

  test('odd-length PCM frames are carried over, not an error', async () => {
    const c = clip('sense_and_sensibility_01_austen_64kb-0880.wav');
    const bytes = toPcm16(concat(silence(0.3), clipSamples(c), silence(0.3)));
    const client = await EarshotClient.connect(t.ws);
    const log = record(client);
    await client.start('odd');
    for (let i = 0; i < bytes.length; i += 3333) client.sendAudio(bytes.subarray(i, i + 3333));
    await client.stop();
    await client.close();
    assert.equal(log.filter((m) => m.type === 'stt_error').length, 0);
    const f = finals(log);
    assert.equal(f.length, 1);
    assert.ok(werOf([f[0]!.text], [c]) <= 0.05, f[0]!.text);
  });

  test('audio sent right after stt_start, before stt_listening arrives, is not lost', async () => {
    const c = clip('cards-003.wav');
    const bytes = toPcm16(concat(silence(0.2), clipSamples(c), silence(0.3)));
    const client = await EarshotClient.connect(t.ws);
    const log = record(client);
    client.sessionId = 'eager';
    client.sendJson({ type: 'stt_start', session_id: 'eager' });
    for (let i = 0; i < bytes.length; i += 3200) client.sendAudio(bytes.subarray(i, i + 3200));
    await client.stop();
    await client.close();
    const f = finals(log);
    assert.equal(f.length, 1, JSON.stringify(log));
    assert.ok(werOf([f[0]!.text], [c]) <= 0.05, f[0]!.text);
  });

  test('audio far faster than real time is throttled by backpressure, not buffered without bound, and still transcribed', async () => {
    const clips = ['0870', '0920', '0890', '0880', '0930', '0870', '0920'].map((n) => clip(`sense_and_sensibility_01_austen_64kb-${n}.wav`));
    const { samples } = conversation(clips, 0.8);
    const client = await EarshotClient.connect(t.ws);
    const pausesBefore = await metricTotal(t.server.metrics.inputPauses);
    const { log } = await transcribeOver(client, samples, { sessionId: 'flood', chunkMs: 1000 });
    assert.ok((await metricTotal(t.server.metrics.inputPauses)) > pausesBefore, 'the socket was paused at least once');
    await client.close();
    const f = finals(log);
    assert.equal(f.length, clips.length, JSON.stringify(f.map((x) => x.text)));
    assert.ok(werOf(f.map((x) => x.text), clips) <= 0.05);
  });

  test('stt_start while the models are still loading waits for them; audio sent meanwhile is kept', async () => {
    const loading = await startServer({});
    try {
      const c = clip('goforward.wav');
      const client = await EarshotClient.connect(loading.ws);
      const log = record(client);
      client.sessionId = 'early';
      client.sendJson({ type: 'stt_start', session_id: 'early' });
      for (const frame of [toPcm16(concat(silence(0.3), clipSamples(c), silence(0.3)))]) client.sendAudio(frame);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(log.length, 0, 'nothing happens before the models are there');
      loading.server.useService(await sharedService());
      await client.next('listening');
      await client.stop();
      await client.close();
      const f = finals(log);
      assert.equal(f.length, 1);
      assert.ok(werOf([f[0]!.text], [c]) <= 0.05, f[0]!.text);
    } finally {
      await loading.server.close();
    }
  });

  test('ping → pong; prompt is accepted silently; the async iterator yields messages in order', async () => {
    const client = await EarshotClient.connect(t.ws);
    const it = client.messages();
    client.sendJson({ type: 'prompt', text: 'hello there', session_id: 'p' });
    const rtt = await client.ping();
    assert.ok(rtt >= 0);
    const first = await it.next();
    assert.deepEqual(first.value, { type: 'pong' }, 'the prompt got no reply and no error');
    await client.close();
    assert.equal((await it.next()).done, true);
  });
});
