import { after, before, describe, test } from 'node:test';
import { assertLikeSeed, readConversation, seedFinals, unscriptedRecording } from './compare.ts';
import { livekitDeepgram, livekitDeepgramStream, livekitRecognize, releaseLiveKit } from '../../eval/framework-clients/livekit.ts';
import { serverForSuite } from '../server/helpers.ts';

const TOKEN = 'livekit-deepgram-key';

describe('LiveKit Agents, Deepgram plugin, pointed at Earshot by baseUrl', () => {
  const t = serverForSuite({ config: { token: TOKEN } });
  const unscripted = unscriptedRecording();
  const read = readConversation();
  const seed = new Map<string, string[]>();
  before(async () => {
    for (const r of [unscripted, read]) seed.set(r.name, await seedFinals(t, r.samples, TOKEN));
  });
  after(releaseLiveKit);

  test('stream with the plugin\'s defaults (endpointing 25 ms, interim results, no_delay …) on unscripted speech: no sentence cut at its pauses', async (tc) => {
    const run = await livekitDeepgramStream(t.http, TOKEN, unscripted.samples, 3);
    assertLikeSeed(tc, 'LiveKit Deepgram stream', run, unscripted, seed.get(unscripted.name)!, { maxFinals: seed.get(unscripted.name)!.length + 1 });
  });

  test('recognize (pre-recorded POST /v1/listen) per utterance of its VAD', async (tc) => {
    const run = await livekitRecognize(livekitDeepgram(t.http, TOKEN), read.samples, 3);
    assertLikeSeed(tc, 'LiveKit Deepgram recognize', run, read, seed.get(read.name)!, { maxFinals: read.clips.length + 2 });
  });
});
