import { LlamaTokenizer } from 'llama-tokenizer-js';

/** Moonshine shares Llama's SentencePiece vocabulary; llama-tokenizer-js is what moonshine-js itself decodes with. */
let tokenizer: LlamaTokenizer | undefined;

export function decodeTokens(ids: number[]): string {
  tokenizer ??= new LlamaTokenizer();
  return tokenizer.decode(ids, false, false).trim();
}
