import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isPublicAddress } from '../../src/server/protocols/url-source.ts';
import { assertLikeSeed, seedComparison } from './compare.ts';
import { deepgramSdkPrerecorded, wavOf } from '../../eval/framework-clients/rest.ts';
import { startServer, sharedService } from '../server/helpers.ts';

const TOKEN = 'deepgram-prerecorded-key';

type Listen = {
  metadata: { request_id: string; duration: number; channels: number; models: string[]; sha256: string };
  results: {
    channels: Array<{ alternatives: Array<{ transcript: string; confidence: number; words: Array<{ word: string; punctuated_word: string; start: number; end: number; confidence: number }> }> }>;
    utterances?: Array<{ transcript: string; start: number; end: number; words: unknown[] }>;
  };
};

describe('Deepgram pre-recorded POST /v1/listen', () => {
  const suite = seedComparison(TOKEN);
  const { t, recording } = suite;
  const wav = wavOf(recording.samples);

  test('@deepgram/sdk transcribeFile: Deepgram\'s response shape, one utterance per final, the seed protocol\'s words', async (tc) => {
    const run = await deepgramSdkPrerecorded(t.http, TOKEN, wav);
    assertLikeSeed(tc, '@deepgram/sdk pre-recorded', run, recording, suite.seed, { maxFinals: suite.seed.length });
    assert.equal(run.finals.length, suite.seed.length);
    const body = run.body as Listen;
    assert.match(body.metadata.request_id, /^[0-9a-f-]{36}$/);
    assert.equal(body.metadata.channels, 1);
    assert.equal(body.metadata.models.length, 1);
    assert.ok(Math.abs(body.metadata.duration - recording.samples.length / 16000) < 0.05);
    const alt = body.results.channels[0]!.alternatives[0]!;
    assert.equal(alt.transcript, suite.seed.join(' '));
    assert.ok(alt.confidence > 0 && alt.confidence <= 1);
    assert.equal(alt.words.length, alt.transcript.split(/\s+/).length);
    for (const [i, w] of alt.words.entries()) {
      assert.ok(w.end > w.start && w.start >= (alt.words[i - 1]?.end ?? 0) - 0.001, JSON.stringify(w));
      assert.equal(w.word, w.punctuated_word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''));
    }
  });

  test('a url body is refused unless allowed, and never reaches loopback or private addresses; errors in Deepgram\'s shape', async () => {
    const post = (base: string, body: string, type = 'application/json') =>
      fetch(`${base}/v1/listen?model=nova-3`, { method: 'POST', headers: { Authorization: `Token ${TOKEN}`, 'Content-Type': type }, body });
    const refused = await post(t.http, JSON.stringify({ url: 'https://example.com/a.wav' }));
    assert.equal(refused.status, 400);
    const error = (await refused.json()) as { err_code: string; err_msg: string; request_id: string; error: { code: string } };
    assert.equal(error.err_code, 'URL_SOURCES_DISABLED');
    assert.equal(error.error.code, 'URL_SOURCES_DISABLED');
    assert.ok(error.err_msg && error.request_id);

    const open = await startServer({ service: await sharedService(), config: { token: TOKEN, allowUrlSources: true } });
    try {
      for (const url of [`${t.http}/health`, 'http://localhost:9/a.wav', 'http://10.0.0.1/a.wav', 'http://[::1]/a.wav', 'ftp://example.com/a.wav']) {
        const answer = await post(open.http, JSON.stringify({ url }));
        assert.equal(answer.status, 400, url);
        assert.match(((await answer.json()) as { err_code: string }).err_code, /^(URL_NOT_ALLOWED|BAD_URL)$/, url);
      }
    } finally {
      await open.server.close();
    }
    for (const a of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', 'fd00::1', 'fe80::1', '::ffff:127.0.0.1']) {
      assert.equal(isPublicAddress(a), false, a);
    }
    for (const a of ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']) assert.equal(isPublicAddress(a), true, a);

    const empty = await post(t.http, '', 'audio/wav');
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as { err_code: string }).err_code, 'MISSING_FILE');
    const german = await fetch(`${t.http}/v1/listen?language=de`, { method: 'POST', headers: { Authorization: `Token ${TOKEN}` }, body: Buffer.from(wav) });
    assert.equal(german.status, 400);
    const unauthorized = await fetch(`${t.http}/v1/listen`, { method: 'POST', body: Buffer.from(wav) });
    assert.equal(unauthorized.status, 401);
  });
});
