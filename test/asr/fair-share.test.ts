import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { concat, conversation, finals, record, serverForSuite, SINGLE_UTTERANCE_CLIPS, werOf } from '../server/helpers.ts';

describe('fair share between sessions (real server, real models)', () => {
  const t = serverForSuite();

  it("a client sending at 20× real time does not push a real-time user's finals onto the small model", async () => {
    const flood = conversation(SINGLE_UTTERANCE_CLIPS, 0.8).samples;
    const speech = conversation(SINGLE_UTTERANCE_CLIPS.filter((c) => /goforward|0880|0890|0930/.test(c.file)), 1);
    const fast = await EarshotClient.connect(t.ws);
    const user = await EarshotClient.connect(t.ws);
    const fastLog = record(fast);
    const userLog = record(user);
    await fast.start('fast');
    await user.start('user');
    await Promise.all([
      (async () => {
        await fast.streamPcm(concat(flood, flood, flood), { speed: 20 });
        await fast.stop();
      })(),
      (async () => {
        await user.streamPcm(speech.samples);
        await user.stop();
      })(),
    ]);
    const mine = finals(userLog);
    assert.equal(mine.length, speech.clips.length, JSON.stringify(mine));
    assert.deepEqual(
      mine.map((f) => f.model),
      speech.clips.map(() => 'moonshine-base'),
    );
    const texts = mine.map((f) => f.text);
    assert.ok(werOf(texts, speech.clips) <= 0.1, `WER ${werOf(texts, speech.clips)}: ${JSON.stringify(texts)}`);
    assert.equal(finals(fastLog).length, SINGLE_UTTERANCE_CLIPS.length * 3, 'the fast client lost finals');
    await Promise.all([fast.close(), user.close()]);
  });
});
