/**
 * The keyterm dev set: the real-speech dev clips, clean and in the noisy dev set's conditions where the model misreads
 * more, with one keyterm list a user of each domain would give (a card game, the Austen reading). Clips whose
 * reference holds a keyterm measure recall; those holding none measure what the bias costs (WER, inserted keyterms).
 */
import { ASR_SAMPLE_RATE } from '../src/asr/engine.ts';
import { resample } from '../src/audio/resample.ts';
import { CONDITIONS, noisyDevSet } from './noisy-dev-set.ts';
import { normalizeWords } from './wer.ts';

export const DEV_KEYTERMS = ['clubs', 'spades', 'hearts', 'diamonds', 'queen', 'Dashwood', 'amiable', 'prudently', 'leisure', 'respectable'];

/** Names and jargon in none of the clips: with DEV_KEYTERMS, a full list of 100 (the limit). */
export const FILLER_KEYTERMS = [
  'Kubernetes', 'PostgreSQL', 'Moonshine', 'Earshot', 'onnxruntime', 'WebSocket', 'Deepgram', 'LiveKit', 'Pipecat', 'Wyoming',
  'Siobhan', 'Nguyen', 'Aoife', 'Raghunathan', 'Przybylski', 'Okonkwo', 'Saoirse', 'Tchaikovsky', 'Xiaoming', 'Guadalupe',
  'metoprolol', 'atorvastatin', 'amoxicillin', 'levothyroxine', 'omeprazole', 'lisinopril', 'gabapentin', 'sertraline', 'ibuprofen', 'warfarin',
  'Grafana', 'Prometheus', 'Terraform', 'Ansible', 'Jenkins', 'GitLab', 'Bitbucket', 'Confluence', 'Jira', 'Zendesk',
  'cappuccino', 'macchiato', 'affogato', 'cortado', 'ristretto', 'frappuccino', 'babka', 'focaccia', 'ciabatta', 'brioche',
  'Reykjavik', 'Ouagadougou', 'Llanfair', 'Kraków', 'Tbilisi', 'Yerevan', 'Ljubljana', 'Bratislava', 'Vilnius', 'Tallinn',
  'SKU 4471', 'part A-113', 'RJ45', 'USB-C', 'HDMI', 'NVMe', 'PCIe', 'DDR5', 'Wi-Fi 6E', 'Bluetooth LE',
  'photosynthesis', 'mitochondria', 'ribosome', 'chlorophyll', 'endoplasmic', 'cytoplasm', 'nucleotide', 'polymerase', 'enzyme', 'isotope',
  'escrow', 'amortization', 'collateral', 'debenture', 'annuity', 'arbitrage', 'fiduciary', 'subrogation', 'indemnity', 'underwriting',
];

export const HUNDRED_KEYTERMS = [...DEV_KEYTERMS, ...FILLER_KEYTERMS];

/** Conditions of the noisy dev set kept: clean, and those where the base model misreads the keyterms' words. */
const KEPT = ['clean', 'pink 5 dB', 'brown 5 dB', 'babble 10 dB', 'telephone (8 kHz μ-law)'];

export interface KeytermClip {
  name: string;
  reference: string;
  /** 16 kHz (the telephone band resampled back up, as the server does). */
  samples: Float32Array;
}

export function keytermDevSet(): KeytermClip[] {
  return CONDITIONS.filter((c) => KEPT.includes(c.name)).flatMap((condition) =>
    noisyDevSet(condition).map(({ clip, samples }) => ({ name: `${clip.file} ${condition.name}`, reference: clip.text, samples: condition.sampleRate === ASR_SAMPLE_RATE ? samples : resample(samples, condition.sampleRate, ASR_SAMPLE_RATE) })),
  );
}

/** Times each keyterm occurs in `text` (as normalized words). */
export function keytermCounts(text: string, keyterms: string[]): number[] {
  const words = normalizeWords(text);
  return keyterms.map((k) => {
    const term = normalizeWords(k);
    let n = 0;
    for (let i = 0; i + term.length <= words.length; i++) if (term.every((w, j) => words[i + j] === w)) n++;
    return n;
  });
}

export interface KeytermScore {
  /** Keyterm occurrences in the references, and those the hypotheses have too. */
  expected: number;
  found: number;
  /** Keyterm occurrences in hypotheses beyond the reference's. */
  inserted: number;
}

export function keytermScore(pairs: Array<{ reference: string; hypothesis: string }>, keyterms: string[]): KeytermScore {
  const score = { expected: 0, found: 0, inserted: 0 };
  for (const { reference, hypothesis } of pairs) {
    const want = keytermCounts(reference, keyterms);
    const got = keytermCounts(hypothesis, keyterms);
    want.forEach((n, i) => {
      score.expected += n;
      score.found += Math.min(n, got[i]!);
      score.inserted += Math.max(0, got[i]! - n);
    });
  }
  return score;
}
