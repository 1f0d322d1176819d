import { splitWords } from '../asr/words.ts';

/**
 * Stabilized realtime text, LocalAgreement-style: a word becomes stable once two consecutive hypotheses agree on
 * it and on everything before it. Stable text only grows; a later hypothesis that disagrees with it cannot retract
 * it (the final, from the bigger model, is the one place where it may still be corrected).
 */
export class Stabilizer {
  private stable: string[] = [];
  private previous: string[] = [];

  /** Feeds the newest hypothesis; returns the stabilized text when it grew, else null. */
  push(hypothesis: string): string | null {
    const words = splitWords(hypothesis);
    const agreed = commonPrefixLength(this.previous, words);
    this.previous = words;
    // Only extend when the agreed prefix covers what is already stable; otherwise keep what we have.
    if (agreed <= this.stable.length || commonPrefixLength(this.stable, words) < this.stable.length) return null;
    this.stable = this.stable.concat(words.slice(this.stable.length, agreed));
    return this.text;
  }

  get text(): string {
    return this.stable.join(' ');
  }

  reset(): void {
    this.stable = [];
    this.previous = [];
  }
}

/** Words compare without case and punctuation: "Hello," and "hello" agree. */
function key(word: string): string {
  return word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '');
}

function commonPrefixLength(a: string[], b: string[]): number {
  let n = 0;
  while (n < a.length && n < b.length && key(a[n]!) === key(b[n]!)) n++;
  return n;
}
