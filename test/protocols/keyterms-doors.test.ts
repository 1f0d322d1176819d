import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import OpenAI, { toFile } from 'openai';
import { writeWav } from '../../src/audio/wav.ts';
import { clip, clipSamples, concat, serverForSuite, silence } from '../server/helpers.ts';

/** cards-002.wav: moonshine-base writes "Four queen of gloves" (or "cloves"); the speaker says "clubs". */
const CARDS = writeWav(concat(silence(0.3), clipSamples(clip('cards-002.wav')), silence(0.3)), 16000);

describe('keyterms through every door (real server, real models, real speech)', () => {
  const t = serverForSuite();

  test('OpenAI REST: `prompt` (its words) and `keywords` set keyterms; a bad keyword is a 400 invalid_request_error', async () => {
    const openai = new OpenAI({ apiKey: 'unused', baseURL: `${t.http}/v1` });
    const file = () => toFile(CARDS, 'cards.wav', { type: 'audio/wav' });
    assert.doesNotMatch((await openai.audio.transcriptions.create({ file: await file(), model: 'whisper-1' })).text, /clubs/i);
    const prompted = await openai.audio.transcriptions.create({ file: await file(), model: 'whisper-1', prompt: 'A card game: the four suits are clubs, spades, hearts and diamonds.' });
    assert.match(prompted.text, /queen of clubs/i);
    const post = (keywords: string[]) => {
      const form = new FormData();
      form.append('file', new Blob([new Uint8Array(CARDS)], { type: 'audio/wav' }), 'cards.wav');
      for (const k of keywords) form.append('keywords[]', k);
      return fetch(`${t.http}/v1/audio/transcriptions`, { method: 'POST', body: form });
    };
    const keyworded = await post(['clubs', 'Dashwood:2']);
    assert.equal(keyworded.status, 200);
    assert.match(((await keyworded.json()) as { text: string }).text, /queen of clubs/i);
    const long = 'z'.repeat(51);
    const refused = await post(['clubs', long]);
    assert.equal(refused.status, 400);
    const { error } = (await refused.json()) as { error: { type: string; code: string; message: string } };
    assert.equal(error.type, 'invalid_request_error');
    assert.equal(error.code, 'BAD_KEYTERMS');
    assert.match(error.message, new RegExp(`"${long}"`));
  });
});
