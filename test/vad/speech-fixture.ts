import { readFileSync } from 'node:fs';
import { readWav } from '../../src/audio/wav.ts';

/** Samples of test/fixtures/speech/<name>, 16 kHz mono floats in [-1, 1]. */
export function speechFixture(name: string): Float32Array {
  const wav = readWav(readFileSync(new URL(`../fixtures/speech/${name}`, import.meta.url)));
  if (wav.sampleRate !== 16000) throw new Error(`${name} is ${wav.sampleRate} Hz, expected 16 kHz`);
  return wav.samples;
}
