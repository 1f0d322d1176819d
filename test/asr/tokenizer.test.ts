import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LlamaTokenizer } from 'llama-tokenizer-js';
import { decodeTokens, loadVocabulary } from '../../src/asr/tokenizer.ts';

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
