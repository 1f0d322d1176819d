import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LlamaTokenizer } from 'llama-tokenizer-js';
import { decodeTokens, loadVocabulary } from '../../src/asr/tokenizer.ts';
import { loadTokenEncoder } from '../../src/asr/token-encoder.ts';

test('token ids decode as llama-tokenizer-js decodes them: every piece, byte fallbacks, random sequences', async () => {
  const vocabulary = await loadVocabulary();
  const reference = new LlamaTokenizer();
  const expected = (ids: number[]) => reference.decode(ids, false, false).trim();
  assert.equal(vocabulary.length, 32000);
  for (let id = 0; id < vocabulary.length; id++) assert.equal(decodeTokens([id]), expected([id]), `id ${id}`);
  // "café 😀": é and the emoji as UTF-8 byte pieces where the vocabulary lacks them
  const ids = reference.encode('the café, 1920s; naïve 😀 façade', false, false);
  assert.equal(decodeTokens(ids), expected(ids));
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % vocabulary.length;
  for (let n = 0; n < 500; n++) {
    const sequence = Array.from({ length: 1 + (n % 30) }, random);
    assert.equal(decodeTokens(sequence), expected(sequence));
  }
  assert.equal(decodeTokens([450, 32500]), expected([450]), 'ids past the vocabulary write nothing');
});

test('keyterms encode as llama-tokenizer-js encodes them, with and without a preceding space; no piece, no ids', async () => {
  const encoder = await loadTokenEncoder();
  const reference = new LlamaTokenizer();
  const words = ['clubs', 'Dashwood', 'Vercel', 'ill-disposed', 'AI SDK', 'Mr. O’Brien', 'naïve café', '  two  spaces', 'x', 'supercalifragilisticexpialidocious'];
  for (const word of words) {
    for (const space of [true, false]) assert.deepEqual(encoder.encode(word, space), reference.encode(word, false, space), `${word} ${space}`);
  }
  assert.equal(encoder.encode('😀 smile', true), undefined);
  assert.equal(encoder.encode('', false), undefined);
});
