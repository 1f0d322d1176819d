/** A transcript's words: what the models write, split on whitespace (every later stage counts and compares these). */
export function splitWords(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

const UNITS = 'zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen'.split(' ');
const TENS = ['', '', 'twenty', 'thirty', 'forty', 'fifty', 'sixty', 'seventy', 'eighty', 'ninety'];

/**
 * A whole number under 100 written in digits, in words ("10" → ["ten"], "42" → ["forty", "two"]): the models write
 * either. Larger numbers are read in more than one way ("1990": "nineteen ninety", "one thousand nine hundred
 * ninety"), so they, and anything else, give undefined.
 */
export function spelledNumber(word: string): string[] | undefined {
  if (!/^\d+$/.test(word)) return undefined;
  const n = Number(word);
  if (n >= 100) return undefined;
  if (n < 20) return [UNITS[n]!];
  return n % 10 ? [TENS[Math.floor(n / 10)]!, UNITS[n % 10]!] : [TENS[n / 10]!];
}
