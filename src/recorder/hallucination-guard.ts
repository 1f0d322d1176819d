/**
 * Cuts model output that the audio cannot have produced: more words than a person can say in that time, or a phrase
 * looping. Returns the text to keep ('' when nothing plausible is left).
 */
export const MAX_WORDS_PER_SECOND = 6;

export function guardTranscript(text: string, speechSeconds: number): string {
  let words = text.split(/\s+/).filter(Boolean);
  words = cutRepetition(words);
  const cap = Math.max(2, Math.ceil(speechSeconds * MAX_WORDS_PER_SECOND));
  if (words.length > cap) words = words.slice(0, cap);
  return words.join(' ');
}

/** A run of 1-8 words repeated three or more times in a row is a decoder loop: keep its first occurrence. */
function cutRepetition(words: string[]): string[] {
  const norm = words.map((w) => w.toLowerCase().replace(/[^\p{L}\p{N}']/gu, ''));
  for (let start = 0; start < words.length; start++) {
    for (let n = 1; n <= 8 && start + 3 * n <= words.length; n++) {
      let repeats = 1;
      while (start + (repeats + 1) * n <= words.length && sameRun(norm, start, start + repeats * n, n)) repeats++;
      if (repeats >= 3) return words.slice(0, start + n);
    }
  }
  return words;
}

function sameRun(words: string[], a: number, b: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (words[a + i] !== words[b + i]) return false;
  return true;
}
