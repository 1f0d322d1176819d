import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertLikeSeed, seedComparison } from './compare.ts';
import { aiSdkDeepgram, aiSdkGroq, aiSdkOpenAI, wavOf } from '../../eval/framework-clients/rest.ts';

const TOKEN = 'ai-sdk-key';

describe('Vercel AI SDK (ai) transcribe, providers pointed at Earshot', () => {
  const suite = seedComparison(TOKEN);
  const { t, recording } = suite;
  const wav = wavOf(recording.samples);

  test('@ai-sdk/openai, plain (json): the whole text', async (tc) => {
    const run = await aiSdkOpenAI(t.http, TOKEN, wav, false);
    assertLikeSeed(tc, '@ai-sdk/openai json', run, recording, suite.seed, { maxFinals: 1 });
  });

  test('@ai-sdk/openai with word timestamps: verbose_json the provider validates, one segment per final', async (tc) => {
    const run = await aiSdkOpenAI(t.http, TOKEN, wav, true);
    assertLikeSeed(tc, '@ai-sdk/openai words', run, recording, suite.seed, { maxFinals: suite.seed.length });
    assert.equal(run.finals.length, suite.seed.length);
    const result = run.body as { durationInSeconds?: number; language?: string };
    assert.ok(Math.abs(result.durationInSeconds! - recording.samples.length / 16000) < 0.05);
  });

  test('@ai-sdk/groq (verbose_json with Groq\'s x_groq)', async (tc) => {
    const run = await aiSdkGroq(t.http, TOKEN, wav);
    assertLikeSeed(tc, '@ai-sdk/groq', run, recording, suite.seed, { maxFinals: suite.seed.length });
    assert.equal(run.finals.length, suite.seed.length);
  });

  test('@ai-sdk/deepgram through a fetch that points at the server: pre-recorded /v1/listen with utterances', async (tc) => {
    const run = await aiSdkDeepgram(t.http, TOKEN, wav);
    assertLikeSeed(tc, '@ai-sdk/deepgram', run, recording, suite.seed, { maxFinals: suite.seed.length });
    assert.equal(run.finals.length, suite.seed.length);
  });
});
