import type { BiasPhrase } from './context-graph.ts';
import { loadTokenEncoder } from './token-encoder.ts';

/** Deepgram's limits for Nova-3 keyterms, and a term's length. */
export const MAX_KEYTERMS = 100;
export const MAX_KEYTERM_TOKENS = 500;
export const MAX_KEYTERM_CHARACTERS = 50;
/** Largest per-term weight (Deepgram's `word:2`) either way. */
export const MAX_KEYTERM_WEIGHT = 10;
/**
 * Bonus (natural-log probability) per keyterm token at weight 1, measured on the keyterm dev set: recall 58/65 at 3
 * (46 without keyterms, 56 at 2, 60 at 4), nothing inserted and the other clips' WER unchanged up to 4, a word lost
 * at 6 and keyterms inserted at 10 (docs/decisions/keyterms-search.md). 3 keeps a step of margin below 4.
 */
export const KEYTERM_BONUS = 3;

export interface Keyterm {
  text: string;
  weight: number;
}

export class KeytermError extends Error {
  readonly code = 'BAD_KEYTERMS';
  constructor(
    message: string,
    /** The term at fault, where one is. */
    readonly term?: string,
  ) {
    super(message);
  }
}

/** "text:weight" where the text has a letter ("10:30" is a time, not 10 at weight 30). */
const WEIGHTED = /^(.*\p{L}.*?)\s*:\s*(-?\d+(?:\.\d+)?)$/u;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** "word" or Deepgram's "word:weight" (a boost; negative suppresses). */
export function parseKeyterm(spec: string): Keyterm {
  const weighted = WEIGHTED.exec(spec.trim());
  const text = (weighted ? weighted[1]! : spec).trim().replace(/\s+/g, ' ');
  const weight = weighted ? Number(weighted[2]) : 1;
  if (!text) throw new KeytermError('a keyterm is empty', spec);
  if (text.length > MAX_KEYTERM_CHARACTERS) throw new KeytermError(`keyterm "${text}" is longer than ${MAX_KEYTERM_CHARACTERS} characters`, text);
  if (CONTROL.test(text)) throw new KeytermError(`keyterm "${text}" holds a control character`, text);
  if (Math.abs(weight) > MAX_KEYTERM_WEIGHT) throw new KeytermError(`keyterm "${text}" has weight ${weight}: at most ${MAX_KEYTERM_WEIGHT} either way`, text);
  return { text, weight };
}

/** Keyterms from whatever a protocol sent: strings (or "word:weight"), checked against the limits. */
export function parseKeyterms(specs: unknown): Keyterm[] {
  if (specs === undefined || specs === null) return [];
  const list = Array.isArray(specs) ? specs : [specs];
  if (list.some((s) => typeof s !== 'string')) throw new KeytermError('keyterms must be strings');
  if (list.length > MAX_KEYTERMS) throw new KeytermError(`${list.length} keyterms: at most ${MAX_KEYTERMS}`);
  return list.map((s) => parseKeyterm(s as string));
}

/** The spellings the model may write a term in: as given, capitalised, lower case; each as a word or inside one. */
function spellings(text: string): string[] {
  const capitalised = text.charAt(0).toUpperCase() + text.slice(1);
  return [...new Set([text, capitalised, text.toLowerCase()])];
}

/**
 * The token sequences to bias toward: `keyterms` (a client's), then `defaults` (the operator's list, not counted
 * against the client's limits). Throws a KeytermError naming the term where one cannot be encoded or where the
 * client's pass MAX_KEYTERM_TOKENS (a term counted once, as written after a space).
 */
export async function compileKeyterms(keyterms: Keyterm[], defaults: Keyterm[] = [], bonus = KEYTERM_BONUS): Promise<BiasPhrase[]> {
  if (!keyterms.length && !defaults.length) return [];
  const encoder = await loadTokenEncoder();
  const phrases = new Map<string, BiasPhrase>();
  let tokens = 0;
  for (const [i, { text, weight }] of [...keyterms, ...defaults].entries()) {
    const written = encoder.encode(text, true);
    if (!written) throw new KeytermError(`keyterm "${text}" cannot be encoded: a character the model's vocabulary lacks`, text);
    if (i < keyterms.length && (tokens += written.length) > MAX_KEYTERM_TOKENS) throw new KeytermError(`keyterms pass ${MAX_KEYTERM_TOKENS} tokens at "${text}"`, text);
    for (const spelling of spellings(text)) {
      for (const space of [true, false]) {
        const ids = encoder.encode(spelling, space);
        const key = ids?.join(' ');
        if (ids && key && (phrases.get(key)?.bonus ?? -Infinity) < bonus * weight) phrases.set(key, { tokens: ids, bonus: bonus * weight });
      }
    }
  }
  return [...phrases.values()];
}

/** A keyterms file (the CLI's --keyterms-file, the operator's EARSHOT_KEYTERMS_FILE): one term a line, `#` comments. */
export function keytermsOfFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.replace(/(^|\s)#.*$/, '').trim())
    .filter(Boolean);
}

/** Common words a prompt is written with, which are not what it asks to recognise. */
const COMMON_WORDS = new Set(
  ('the and for are but not you all any can had her was one our out has him his how its may new now old see two way who did get ' +
    'she use say too yes let per via this that with have from they will your what when were been than them then some into more ' +
    'only over such also just like very well here there their these those would could should which where about after before ' +
    'because while other being following transcript transcription audio speaker speakers conversation meeting recording words ' +
    'mention mentions mentioned names term terms please note contains include includes including discuss discusses discussed')
    .split(' '),
);
const WORD = /[\p{L}\p{N}](?:[\p{L}\p{N}'’.-]*[\p{L}\p{N}])?/gu;

/**
 * OpenAI's `prompt` as keyterms (Earshot's decoder has no text prompt): its words that a user would want recognised,
 * in order, once each, at most MAX_KEYTERMS: names (capitalised), words with digits or inner capitals, and other
 * words of four letters or more, common English words left out. Never an error: what does not fit is left out.
 */
export function promptKeyterms(prompt: string | undefined): Keyterm[] {
  const seen = new Set<string>();
  const terms: Keyterm[] = [];
  for (const [word] of (prompt ?? '').matchAll(WORD)) {
    const lower = word.toLowerCase();
    const named = /\d/.test(word) || /\p{Lu}/u.test(word.slice(1)) || (word.length >= 3 && /^\p{Lu}/u.test(word));
    if (seen.has(lower) || COMMON_WORDS.has(lower) || word.length > MAX_KEYTERM_CHARACTERS || !(named || word.length >= 4)) continue;
    seen.add(lower);
    terms.push({ text: word, weight: 1 });
    if (terms.length === MAX_KEYTERMS) break;
  }
  return terms;
}

/** OpenAI's `keywords` (against the limits: throws a KeytermError) and, apart, its `prompt`'s words not among them. */
export function openaiKeyterms(keywords: unknown, prompt: unknown): { keywords: Keyterm[]; fromPrompt: Keyterm[] } {
  const own = parseKeyterms(keywords);
  const fromPrompt = promptKeyterms(typeof prompt === 'string' ? prompt : undefined).filter((p) => !own.some((k) => k.text.toLowerCase() === p.text.toLowerCase()));
  return { keywords: own, fromPrompt };
}
