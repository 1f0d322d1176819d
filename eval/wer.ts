import { spelledNumber } from '../src/asr/words.ts';

/**
 * Word error rate with the normalizer every Earshot number uses: lowercase, punctuation removed, hyphens split,
 * "mr" → "mister", British → American spelling, whole numbers under 100 written as words ("10" → "ten": the models
 * write either, as Whisper's normalizer counts them alike). Both sides go through the same normalizer.
 */
const BRITISH_TO_AMERICAN: Record<string, string> = {
  metres: 'meters', metre: 'meter', centre: 'center', centres: 'centers', colour: 'color', colours: 'colors',
  favour: 'favor', favourite: 'favorite', honour: 'honor', labour: 'labor', neighbour: 'neighbor', behaviour: 'behavior',
  realise: 'realize', realised: 'realized', organise: 'organize', organised: 'organized', recognise: 'recognize',
  travelled: 'traveled', travelling: 'traveling', grey: 'gray', programme: 'program', theatre: 'theater',
};
const ABBREVIATIONS: Record<string, string> = { mr: 'mister', mrs: 'missus', dr: 'doctor', st: 'saint' };

export function normalizeWords(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[-‐‑–—]/g, ' ')
    .replace(/[^\p{L}\p{N}'\s]/gu, ' ')
    .replace(/'(?!\p{L})|(?<!\p{L})'/gu, ' ')
    .split(/\s+/)
    .filter(Boolean)
    .flatMap((w) => spelledNumber(w) ?? [ABBREVIATIONS[w] ?? BRITISH_TO_AMERICAN[w] ?? w]);
}

/** Edit distance between word sequences (substitutions + deletions + insertions). */
export function wordErrors(reference: string[], hypothesis: string[]): number {
  return alignWords(reference, hypothesis).filter((o) => o.op !== 'ok').length;
}

export interface WordOp {
  op: 'ok' | 'sub' | 'del' | 'ins';
  ref?: string;
  hyp?: string;
}

/** A minimum-edit alignment of the hypothesis to the reference, word by word in order. */
export function alignWords(reference: string[], hypothesis: string[]): WordOp[] {
  const cost = [Array.from({ length: hypothesis.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= reference.length; i++) {
    const prev = cost[i - 1]!;
    const row = [i];
    for (let j = 1; j <= hypothesis.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (reference[i - 1] === hypothesis[j - 1] ? 0 : 1));
    }
    cost.push(row);
  }
  const ops: WordOp[] = [];
  let i = reference.length;
  let j = hypothesis.length;
  while (i > 0 || j > 0) {
    const here = cost[i]![j]!;
    if (i > 0 && j > 0 && cost[i - 1]![j - 1]! + (reference[i - 1] === hypothesis[j - 1] ? 0 : 1) === here) {
      ops.push({ op: reference[i - 1] === hypothesis[j - 1] ? 'ok' : 'sub', ref: reference[--i], hyp: hypothesis[--j] });
    } else if (i > 0 && cost[i - 1]![j]! + 1 === here) {
      ops.push({ op: 'del', ref: reference[--i] });
    } else {
      ops.push({ op: 'ins', hyp: hypothesis[--j] });
    }
  }
  return ops.reverse();
}

/** Corpus WER over pairs: total errors / total reference words. */
export function wer(pairs: Array<{ reference: string; hypothesis: string }>): { wer: number; errors: number; words: number } {
  let errors = 0;
  let words = 0;
  for (const { reference, hypothesis } of pairs) {
    const ref = normalizeWords(reference);
    errors += wordErrors(ref, normalizeWords(hypothesis));
    words += ref.length;
  }
  return { wer: words ? errors / words : 0, errors, words };
}
