// A server killed mid-utterance and restarted: the client resends the audio no final has covered, so the finals of
// the whole fixture are complete and none comes twice. Real `earshot serve` processes, real models, real speech.
import assert from 'node:assert/strict';
import os from 'node:os';
import { after, before, describe, test } from 'node:test';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { conversation } from '../fixtures/conversation.ts';
import { SPEECH_CLIPS } from '../fixtures/speech.ts';
import { freePort, ServerProcess, sleep } from '../web/browser-harness.ts';
import { werOf } from '../server/helpers.ts';

const CLIPS = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav').slice(0, 5);

describe('client failover: the server is killed mid-utterance and restarted', { timeout: 300_000 }, () => {
  let server: ServerProcess;

  before(async () => {
    server = new ServerProcess(await freePort(), os.tmpdir());
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
    await client.connect();
    await client.start('failover');

    // Kill the server 1 s into the third sentence: its final has not been sent yet.
    const killed = client
      .next('recordingStart', (m) => m.utterance === 3, 120_000)
      .then(async () => {
        await sleep(1000);
        const finalsBefore = finals.length;
        await server.stop('SIGKILL');
        await server.start();
        return finalsBefore;
      });
    await client.streamPcm(samples, { realtime: true, speed: 2 });
    const finalsAtKill = await killed;
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
