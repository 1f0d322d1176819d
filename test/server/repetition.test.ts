import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { normalizeWords } from '../../eval/wer.ts';
import { repeated, senseAtTempo, silence, tenOfClubsFourTimesThenGoForward, tenOfCopies, trimmedClip } from '../fixtures/repeated-speech.ts';
import { concat, finals, metricValue, serverForSuite, transcribeOver } from './helpers.ts';

/** The spoken repetitions of the hallucination-guard issue, through the seed protocol at real-time pace. */
describe('repeated words over the WebSocket protocol', () => {
  const t = serverForSuite();

  async function finalTexts(samples: Float32Array): Promise<string[]> {
    const client = await EarshotClient.connect(t.ws);
    const { log } = await transcribeOver(client, samples, { realtime: true });
    await client.close();
    return finals(log).map((f) => f.text);
  }

  const words = (texts: string[]) => normalizeWords(texts.join(' '));
  const kept = () => metricValue(t.http, 'earshot_guard_total{verdict="repetition_kept"}').then((v) => v ?? 0);

  test('"ten of clubs" ×4 then "go forward ten meters" keeps all four and the words after; counted in /metrics', async () => {
    const before = await kept();
    const texts = await finalTexts(tenOfClubsFourTimesThenGoForward());
    assert.equal(texts.length, 1, texts.join(' | '));
    assert.deepEqual(tenOfCopies(words(texts)), { copies: 4, rest: ['go', 'forward', 'ten', 'meters'] }, texts.join(' | '));
    assert.equal((await kept()) - before, 1);
  });

  test('"five five" after a long silence and a phrase said three times', async () => {
    assert.deepEqual(words(await finalTexts(concat(silence(2), trimmedClip('cards-004.wav'), silence(1)))), ['five', 'five']);
    const texts = await finalTexts(repeated(trimmedClip('cards-001.wav'), 3));
    assert.deepEqual(tenOfCopies(words(texts)), { copies: 3, rest: [] }, texts.join(' | '));
  });

  test('a sentence at 1.8× tempo keeps its end', async () => {
    const texts = await finalTexts(concat(silence(0.5), senseAtTempo('1.8'), silence(1)));
    assert.match(texts.join(' ').toLowerCase(), /in his power to do for them/);
  });
});
