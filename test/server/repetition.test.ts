import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { occurrences } from '../../src/recorder/repetition.ts';
import { normalizeWords } from '../../bench/wer.ts';
import { repeated, senseAtTempo, silence, tenOfClubsFourTimesThenGoForward, trimmedClip } from '../fixtures/repeated-speech.ts';
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

  const words = (texts: string[]) => normalizeWords(texts.join(' ')).map((w) => (w === 'cloves' || w === 'cloaks' ? 'clubs' : w));

  test('"ten of clubs" ×4 then "go forward ten meters" keeps all four and the words after; counted in /metrics', async () => {
    const texts = await finalTexts(tenOfClubsFourTimesThenGoForward());
    assert.equal(occurrences(words(texts), ['ten', 'of', 'clubs']), 4, texts.join(' | '));
    assert.equal(occurrences(words(texts), ['go', 'forward', 'ten', 'meters']), 1, texts.join(' | '));
    assert.ok((await metricValue(t.http, 'earshot_guard_total{verdict="repetition_kept"}'))! >= 1);
  });

  test('"five five" after a long silence and a phrase said three times', async () => {
    assert.deepEqual(words(await finalTexts(concat(silence(2), trimmedClip('cards-004.wav'), silence(1)))), ['five', 'five']);
    assert.ok(occurrences(words(await finalTexts(repeated(trimmedClip('cards-001.wav'), 3))), ['ten', 'of', 'clubs']) >= 3);
  });

  test('a sentence at 1.8× tempo keeps its end', async () => {
    const texts = await finalTexts(concat(silence(0.5), senseAtTempo('1.8'), silence(1)));
    assert.match(texts.join(' ').toLowerCase(), /in his power to do for them/);
  });
});
