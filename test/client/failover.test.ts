// A server killed mid-utterance and restarted: the client resends the audio no final has covered, so the finals of
// the whole fixture are complete and none comes twice. Real `earshot serve` processes, real models, real speech.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { clipSamples, conversation } from '../../eval/conversation.ts';
import { SPEECH_CLIPS } from '../../eval/speech.ts';
import { freePort, ServerProcess } from '../web/browser-harness.ts';
import { waitFor, werOf } from '../server/helpers.ts';

const CLIPS = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav').slice(0, 5);

describe('client failover: the server is killed mid-utterance and restarted', { timeout: 300_000 }, () => {
  let server: ServerProcess;

  before(async () => {
    // The audio pauses mid-sentence while the test waits for the kill's moment: no idle timeout may end the session.
    server = new ServerProcess(await freePort(), os.tmpdir(), { EARSHOT_AUDIO_IDLE_TIMEOUT_MS: '3600000' });
    await server.start();
  });

  after(async () => {
    await server?.stop('SIGKILL');
  });

  test('every sentence has exactly one final, the one cut by the kill included', async () => {
    const { samples } = conversation(CLIPS, 1.2);
    const client = new EarshotClient({ url: `ws://127.0.0.1:${server.port}/ws/stream`, reconnect: { initialDelayMs: 200, maxDelayMs: 1000 } });
    const finals: string[] = [];
    client.on('final', (m) => finals.push(m.text));
    let thirdStarted = false;
    client.on('recordingStart', (m) => (thirdStarted ||= m.utterance === 3));
    await client.connect();
    await client.start('failover');

    // Up to the middle of the third sentence; the kill waits for its recording to start and for the second final, so
    // the third utterance is open and unanswered when the server dies, however slow the machine.
    const gap = Math.round(1.2 * 16000);
    const middleOfThird = gap * 3 + clipSamples(CLIPS[0]!).length + clipSamples(CLIPS[1]!).length + Math.round(clipSamples(CLIPS[2]!).length / 2);
    await client.streamPcm(samples.subarray(0, middleOfThird), { realtime: true, speed: 2 });
    await waitFor(() => thirdStarted && finals.length >= 2, 120_000, 'the third recording and the second final');
    const finalsAtKill = finals.length;
    await server.stop('SIGKILL');
    await server.start();
    await client.streamPcm(samples.subarray(middleOfThird), { realtime: true, speed: 2 });
    await client.stop(120_000);
    await client.close();

    assert.equal(finalsAtKill, 2, 'the kill came before the third final');
    assert.equal(client.reconnects.length, 1, 'one reconnect');
    assert.ok(client.reconnects[0]!.resentSeconds > 1, 'the audio since the second final was sent again');
    assert.equal(finals.length, CLIPS.length, `one final per sentence: ${JSON.stringify(finals)}`);
    const wer = werOf(finals, CLIPS);
    assert.ok(wer <= 0.1, `WER ${(wer * 100).toFixed(1)} %: ${JSON.stringify(finals)}`);
  });
});
