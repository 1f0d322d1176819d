/** A transcript's words: what the models write, split on whitespace (every later stage counts and compares these). */
export function splitWords(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}
