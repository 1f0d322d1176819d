import { after, describe, test } from 'node:test';
import { assertLikeSeed, seedComparison } from './compare.ts';
import { livekitOpenAIRealtime, livekitOpenAIRest, livekitRecognize, releaseLiveKit } from '../../eval/framework-clients/livekit.ts';

const TOKEN = 'livekit-openai-key';

describe('LiveKit Agents, OpenAI plugin, pointed at Earshot by baseURL', () => {
  const suite = seedComparison(TOKEN);
  const { t, recording } = suite;
  after(releaseLiveKit);

  test('default realtime model (gpt-realtime-whisper) with its own VAD committing: every commit completes, the seed protocol\'s words', async (tc) => {
    const run = await livekitOpenAIRealtime(t.http, TOKEN, recording.samples, 3);
    assertLikeSeed(tc, 'LiveKit OpenAI realtime', run, recording, suite.seed, { maxFinals: recording.clips.length + 2 });
  });

  test('useRealtime: false (StreamAdapter with its VAD, recognize per utterance)', async (tc) => {
    const run = await livekitRecognize(livekitOpenAIRest(t.http, TOKEN), recording.samples, 3);
    assertLikeSeed(tc, 'LiveKit OpenAI useRealtime:false', run, recording, suite.seed, { maxFinals: recording.clips.length + 2 });
  });
});
