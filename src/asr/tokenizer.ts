import { Worker } from 'node:worker_threads';

/**
 * Moonshine shares Llama's SentencePiece vocabulary; llama-tokenizer-js is what moonshine-js itself decodes with.
 * Turning token ids into text needs only its vocabulary, but importing the package builds two encoders' merge tables
 * (its default instance at import and any other): ~34 MB of RSS in every thread that imports it, for good. So a
 * short-lived thread imports it and hands back the vocabulary (~1 MB), and the decoding is done here, as the
 * package does it (tested against it).
 */
const VOCABULARY = 't.vocabById';

let vocabulary: Promise<string[]> | undefined;
let pieces: string[] | undefined;

/** Reads the vocabulary once per thread; decodeTokens needs it to have been loaded. */
export function loadVocabulary(): Promise<string[]> {
  vocabulary ??= readTokenizer<string[]>(VOCABULARY).then((v) => (pieces = v));
  return vocabulary;
}

/** `expression` over the package's default tokenizer `t`, evaluated in a short-lived thread (see above). */
export function readTokenizer<T>(expression: string): Promise<T> {
  const reader = `import(${JSON.stringify(import.meta.resolve('llama-tokenizer-js'))}).then(({ default: t }) => require('node:worker_threads').parentPort.postMessage(${expression}));`;
  return new Promise<T>((resolve, reject) => {
    const thread = new Worker(reader, { eval: true });
    thread.once('message', resolve);
    thread.once('error', reject);
    thread.once('exit', (code) => reject(new Error(`the tokenizer reader exited (${code}) without an answer`)));
  });
}

/** "▁" is SentencePiece's space. */
const SPACE = /\u2581/g;
/** A byte-fallback piece, one UTF-8 byte of a character the vocabulary has no piece for. */
const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;
const utf8 = new TextEncoder();
const text = new TextDecoder('utf-8');

export function decodeTokens(ids: number[]): string {
  if (!pieces) throw new Error('decodeTokens before loadVocabulary');
  const bytes: number[] = [];
  for (const id of ids) {
    const piece = pieces[id];
    if (piece === undefined) continue; // ids past the vocabulary (the model's table has spare rows): nothing to write
    const byte = BYTE_PIECE.exec(piece);
    if (byte) bytes.push(parseInt(byte[1]!, 16));
    else for (const b of utf8.encode(piece)) bytes.push(b);
  }
  return text.decode(Uint8Array.from(bytes)).replace(SPACE, ' ').trim();
}
