import { ASR_SAMPLE_RATE, type Transcript } from '../asr/engine.ts';
import { splitWords } from '../asr/words.ts';
import { copiesOf, findRepetition, joinOverlapping, normalizeWord, occurrences, overlapLength, withoutCopies, type Repetition } from './repetition.ts';

/**
 * Tells a decoder loop from a real repetition by asking the audio. A phrase said four times takes four times as long:
 * if the repeats were spoken, decoding the audio from where the first occurrence ends (placed by the share of the
 * hypothesis's letters it holds, over the voiced windows, and moved to the quietest window near it) yields them
 * again. If it does not, the copies were the decoder's: the words before them are joined with that decode, so words
 * the audio holds after the loop are kept, not cut with it.
 */
export type GuardVerdict = 'none' | 'repetition_kept' | 'loop_cut' | 'unchecked';

/** What the recorder knows about the audio a final was decoded from. */
export interface SpeechEvidence {
  /** The samples the model heard. */
  audio: Float32Array;
  windowSamples: number;
  /** Index in `audio` where VAD window 0 starts (windows before the pre-roll's end are not judged). */
  windowsFrom: number;
  /** Per window from windowsFrom: the VAD called it speech. */
  voiced: boolean[];
  /** Per window from windowsFrom: level in dBFS. */
  levels: number[];
}

export interface GuardedText {
  text: string;
  guard: GuardVerdict;
  /** Engine time spent re-decoding. */
  redecodeMs: number;
}

/** How far (seconds) the cut may move from its estimate to find the pause between two occurrences (see cutPoint). */
const SNAP_SECONDS = 0.3;
/** A window this far below the utterance's median voiced level is a pause between words. */
const PAUSE_DB = 15;
/**
 * Fastest speech a partial may claim, in letters per second of the utterance so far: a read sentence at 2× tempo
 * reaches 28 (sense_and_sensibility-0870, 90 letters in 3.25 s).
 */
const MAX_LETTERS_PER_SECOND = 35;

/** The final's guard: re-decodes the audio behind a suspect repetition (at most one extra decode). */
export async function reviewFinal(text: string, evidence: SpeechEvidence, decode: (samples: Float32Array) => Promise<Transcript>): Promise<GuardedText> {
  const words = splitWords(text);
  const repetition = findRepetition(words);
  if (!repetition) return { text, guard: 'none', redecodeMs: 0 };
  const { from, copies } = copiesOf(repetition, words.length);
  const phrase = words.slice(repetition.start, repetition.start + repetition.length);
  const cut = cutPoint(words, from, evidence);
  let rest: Transcript;
  try {
    rest = await decode(evidence.audio.subarray(cut.sample));
  } catch (e) {
    // The first decode is what was said as far as anyone knows: a failed check must not lose it.
    if ((e as Error).name === 'AbortError') throw e;
    return { text, guard: 'unchecked', redecodeMs: 0 };
  }
  let restWords = splitWords(rest.text);
  // A long run may lose an occurrence at the seam; a single copy must be there whole.
  if (occurrences(restWords, phrase) >= (copies >= 3 ? copies - 1 : copies)) return { text, guard: 'repetition_kept', redecodeMs: rest.processingMs };
  const again = findRepetition(restWords);
  if (again && isSame(restWords, again, phrase)) restWords = withoutCopies(restWords, again);
  const head = words.slice(0, from);
  // The cut estimate assumed the copies were spoken, so for a loop it falls early, inside the head's last words. Cut
  // inside a word, the rest of that word reads as another word ("…ters" as "others"): without an overlap to show
  // where the seam is, the re-decode's first word is that fragment.
  if (!cut.inPause && overlapLength(head, restWords) === 0) restWords = restWords.slice(1);
  // The re-decode may loop too, on another phrase: what is left must at least fit the audio's time.
  const repaired = guardPartial(joinOverlapping(head, restWords).join(' '), evidence.audio.length / ASR_SAMPLE_RATE);
  return { text: repaired, guard: 'loop_cut', redecodeMs: rest.processingMs };
}

/**
 * The guard from text and time alone, for partials (replaced by the final, they get no extra decode) and for what a
 * loop's re-decode left: copies are cut only when the text claims faster speech than people reach.
 */
export function guardPartial(text: string, speechSeconds: number): string {
  let words = splitWords(text);
  for (let r = findRepetition(words); r && letters(words) > MAX_LETTERS_PER_SECOND * speechSeconds; r = findRepetition(words)) {
    words = withoutCopies(words, r);
  }
  return words.join(' ');
}

/**
 * Where in the audio the words from index `word` on should begin, and whether that is a pause (a window 15 dB or
 * more below the median voiced window) rather than the inside of a word.
 */
function cutPoint(words: string[], word: number, e: SpeechEvidence): { sample: number; inPause: boolean } {
  const share = letters(words.slice(0, word)) / Math.max(1, letters(words));
  const voiced = e.voiced.flatMap((v, i) => (v ? [i] : []));
  const estimate = voiced.length
    ? voiced[Math.min(voiced.length - 1, Math.floor(share * voiced.length))]!
    : Math.floor((share * (e.audio.length - e.windowsFrom)) / e.windowSamples);
  // In a short utterance a pause 0.3 s away may be before the first word: move at most a sixth of the speech.
  const reach = Math.min(Math.round((SNAP_SECONDS * ASR_SAMPLE_RATE) / e.windowSamples), Math.floor(voiced.length / 6));
  let quietest = estimate;
  for (let i = Math.max(0, estimate - reach); i <= Math.min(e.levels.length - 1, estimate + reach); i++) {
    if (e.levels[i]! < (e.levels[quietest] ?? Infinity)) quietest = i;
  }
  const speechLevels = voiced.map((i) => e.levels[i]!).sort((a, b) => a - b);
  const median = speechLevels[Math.floor(speechLevels.length / 2)] ?? 0;
  return {
    sample: Math.min(e.audio.length, e.windowsFrom + quietest * e.windowSamples),
    inPause: (e.levels[quietest] ?? -Infinity) <= median - PAUSE_DB,
  };
}

/** The same loop: a loop re-entered at another word is the same phrase rotated ("rather selfish cold hearted and"). */
function isSame(words: string[], r: Repetition, phrase: string[]): boolean {
  const key = (w: string[]) => w.map(normalizeWord).sort().join(' ');
  return r.length === phrase.length && key(words.slice(r.start, r.start + r.length)) === key(phrase);
}

function letters(words: string[]): number {
  return words.reduce((n, w) => n + w.replace(/[^\p{L}\p{N}]/gu, '').length, 0);
}
