/**
 * Repetitions in a hypothesis, found from the text alone. Text cannot say whether a repetition was spoken or is a
 * decoder loop (a person saying a phrase four times and a model looping look alike); hallucination-guard.ts asks
 * the audio. Word positions here index the hypothesis split on whitespace.
 */
import { spelledNumber } from '../asr/words.ts';

export interface Repetition {
  /** Index of the first word of the first occurrence. */
  start: number;
  /** Words in the repeated phrase. */
  length: number;
  /** Occurrences in a row (2 or more); for a tail repeat, 2. */
  count: number;
  /**
   * 'run': the phrase occurs `count` times in a row. 'tail': the hypothesis ends with its own first `length` words
   * again ("when you hear the bell when you"), a shape decoders take in noise.
   */
  kind: 'run' | 'tail';
}

/** Longest phrase (in words) looked for. */
const MAX_PHRASE_WORDS = 12;
/** Phrases this short need three occurrences to be suspect: "five five", "thank you thank you" are everyday speech. */
const SHORT_PHRASE_WORDS = 2;

/** Case, punctuation and digit spelling removed, so that "10 of cloves," and "ten of cloves" compare equal. */
export function normalizeWord(word: string): string {
  const w = word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '');
  return spelledNumber(w)?.join(' ') ?? w;
}

/**
 * The first suspect repetition: a phrase of 1-2 words three or more times in a row, a longer phrase (up to 12 words)
 * twice or more, or a tail repeat of the hypothesis's start of two words or more. Undefined when there is none.
 */
export function findRepetition(words: string[]): Repetition | undefined {
  const norm = words.map(normalizeWord);
  for (let start = 0; start < norm.length; start++) {
    for (let length = 1; length <= MAX_PHRASE_WORDS && start + 2 * length <= norm.length; length++) {
      let count = 1;
      while (start + (count + 1) * length <= norm.length && sameRun(norm, start, start + count * length, length)) count++;
      if (count >= (length <= SHORT_PHRASE_WORDS ? 3 : 2)) return { start, length, count, kind: 'run' };
    }
  }
  for (let length = Math.min(MAX_PHRASE_WORDS, Math.floor((norm.length - 1) / 2)); length >= 2; length--) {
    if (sameRun(norm, 0, norm.length - length, length)) return { start: 0, length, count: 2, kind: 'tail' };
  }
  return undefined;
}

/** Word range [from, to) of the suspect copies: every occurrence after the first, or the tail repeat. */
export function copiesOf(r: Repetition, words: number): { from: number; to: number; copies: number } {
  return r.kind === 'tail'
    ? { from: words - r.length, to: words, copies: 1 }
    : { from: r.start + r.length, to: r.start + r.count * r.length, copies: r.count - 1 };
}

/**
 * How many times `phrase` occurs in `words` (normalized, non-overlapping). Two decodes of the same audio may spell a
 * word differently ("ten of cloaks" / "ten of cloves"), so a phrase of three words or more occurs where two thirds
 * of its words match in place.
 */
export function occurrences(words: string[], phrase: string[]): number {
  const w = words.map(normalizeWord);
  const p = phrase.map(normalizeWord);
  const needed = p.length <= SHORT_PHRASE_WORDS ? p.length : Math.ceil((p.length * 2) / 3);
  let found = 0;
  for (let i = 0; i + p.length <= w.length; ) {
    if (p.filter((x, j) => w[i + j] === x).length >= needed) {
      found++;
      i += p.length;
    } else i++;
  }
  return found;
}

/**
 * `head` followed by `tail`, where tail is a decode of audio that may start a little before head's audio ends: the
 * longest suffix of head that tail starts with is said once. ("small children came to see", "to see him" →
 * "small children came to see him").
 */
export function joinOverlapping(head: string[], tail: string[]): string[] {
  return [...head, ...tail.slice(overlapLength(head, tail))];
}

/** Words of the longest suffix of `head` that `tail` starts with. */
export function overlapLength(head: string[], tail: string[]): number {
  const h = head.map(normalizeWord);
  const t = tail.map(normalizeWord);
  for (let overlap = Math.min(h.length, t.length); overlap > 0; overlap--) {
    if (sameRun2(h, h.length - overlap, t, 0, overlap)) return overlap;
  }
  return 0;
}

/** Cuts the suspect copies (the old text-only guard; for partials, where there is no time to ask the audio). */
export function withoutCopies(words: string[], r: Repetition): string[] {
  const { from, to } = copiesOf(r, words.length);
  return [...words.slice(0, from), ...words.slice(to)];
}

function sameRun(words: string[], a: number, b: number, n: number): boolean {
  return sameRun2(words, a, words, b, n);
}

function sameRun2(x: string[], a: number, y: string[], b: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (x[a + i] !== y[b + i]) return false;
  return true;
}
