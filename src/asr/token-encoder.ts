import { readTokenizer } from './tokenizer.ts';

/**
 * Text to token ids, for keyterms: SentencePiece BPE over the vocabulary and merge table of llama-tokenizer-js (read
 * once per thread, as the vocabulary is: tokenizer.ts), merging the adjacent pair of lowest rank first, leftmost
 * first among equals, as the package does (tested against it). Keyterms are short, so the plain quadratic loop does.
 */
export interface TokenEncoder {
  /**
   * Ids of `text`, after a space where `precedingSpace` (a word inside a sentence); undefined where a character
   * has no piece of its own (the package would spell its UTF-8 bytes, which the model never writes for a word).
   */
  encode(text: string, precedingSpace: boolean): number[] | undefined;
}

let encoder: Promise<TokenEncoder> | undefined;

export function loadTokenEncoder(): Promise<TokenEncoder> {
  encoder ??= readTokenizer<[string[], string[]]>('[t.vocabById, [...t.merges.keys()]]').then(([pieces, merges]) => bpe(pieces, merges));
  return encoder;
}

function bpe(pieces: string[], merges: string[]): TokenEncoder {
  const ids = new Map(pieces.map((piece, id) => [piece, id]));
  const ranks = new Map(merges.map((pair, rank) => [pair, rank]));
  return {
    encode(text, precedingSpace) {
      const parts = Array.from((precedingSpace ? ` ${text}` : text).replaceAll(' ', '\u2581'));
      if (!parts.length || parts.some((p) => !ids.has(p))) return undefined;
      for (;;) {
        let best = -1;
        let bestRank = Infinity;
        for (let i = 0; i + 1 < parts.length; i++) {
          const rank = ranks.get(`${parts[i]} ${parts[i + 1]}`);
          if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
        }
        if (best < 0) return parts.map((p) => ids.get(p)!);
        parts.splice(best, 2, parts[best]! + parts[best + 1]!);
      }
    },
  };
}
