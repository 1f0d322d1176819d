import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { prepareResampler, resample, StreamingResampler } from '../../src/audio/resample.ts';
import { readWav } from '../../src/audio/wav.ts';
import { concat } from '../../eval/conversation.ts';

function tone(freq: number, rate: number, n: number, amplitude = 0.5): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => amplitude * Math.sin((2 * Math.PI * freq * i) / rate));
}

// RMS over the middle 80%, away from the start/end transients.
function midRms(x: Float32Array): number {
  const start = Math.floor(x.length * 0.1);
  const end = Math.floor(x.length * 0.9);
  let sum = 0;
  for (let i = start; i < end; i++) sum += x[i] * x[i];
  return Math.sqrt(sum / (end - start));
}


const speech = readWav(readFileSync(new URL('../fixtures/speech/goforward.wav', import.meta.url))).samples;
const RATE_PAIRS = [
  [48000, 16000],
  [44100, 16000],
  [8000, 16000],
  [22050, 16000],
  [11025, 16000],
  [96000, 16000],
  [16000, 44100],
  [44100, 16001], // reduced ratio too large for exact phases: quantised-phase path
] as const;

test('1 kHz at 48k -> 16k keeps its amplitude within 1%', () => {
  const out = resample(tone(1000, 48000, 48000), 48000, 16000);
  const ratio = midRms(out) / (0.5 / Math.SQRT2);
  assert.ok(Math.abs(ratio - 1) < 0.01, `gain ${ratio}`);
});

test('10 kHz at 48k -> 16k is suppressed by more than 40 dB (no aliasing)', () => {
  const out = resample(tone(10000, 48000, 48000), 48000, 16000);
  const db = 20 * Math.log10(midRms(out) / (0.5 / Math.SQRT2));
  assert.ok(db < -40, `alias at ${db.toFixed(1)} dB`);
});

test('near-Nyquist content just above 8 kHz is suppressed from 44.1k too', () => {
  const out = resample(tone(9000, 44100, 44100), 44100, 16000);
  assert.ok(20 * Math.log10(midRms(out) / (0.5 / Math.SQRT2)) < -40);
});

for (const [from, to] of RATE_PAIRS) {
  test(`${from} -> ${to}: output is time-aligned with input and has ceil(n * to / from) samples`, () => {
    const n = Math.round(from * 0.5) + 7;
    const freq = 440;
    const out = resample(tone(freq, from, n), from, to);
    assert.equal(out.length, Math.ceil((n * to) / from));
    // Output sample k must equal the input signal at time k / to (no group delay left over).
    let worst = 0;
    for (let k = Math.floor(out.length * 0.1); k < out.length * 0.9; k++) {
      worst = Math.max(worst, Math.abs(out[k] - 0.5 * Math.sin((2 * Math.PI * freq * k) / to)));
    }
    assert.ok(worst < 1e-3, `max deviation ${worst}`);
  });
}

test('DC passes at unit gain', () => {
  const out = resample(new Float32Array(44100).fill(0.25), 44100, 16000);
  for (let k = 200; k < out.length - 200; k++) assert.ok(Math.abs(out[k] - 0.25) < 1e-5);
});

test('chunked processing equals whole processing for any split (property)', () => {
  const signal = speech.subarray(0, 3000);
  fc.assert(
    fc.property(
      fc.constantFrom(...RATE_PAIRS),
      fc.array(fc.integer({ min: 0, max: 700 }), { maxLength: 30 }),
      ([from, to], sizes) => {
        const whole = resample(signal, from, to);
        const r = new StreamingResampler(from, to);
        const parts: Float32Array[] = [];
        let pos = 0;
        for (const size of sizes) {
          parts.push(r.process(signal.subarray(pos, Math.min(signal.length, pos + size))));
          pos = Math.min(signal.length, pos + size);
        }
        parts.push(r.process(signal.subarray(pos)), r.flush());
        const chunked = concat(...parts);
        assert.equal(chunked.length, whole.length);
        for (let i = 0; i < whole.length; i++) assert.ok(Math.abs(chunked[i] - whole[i]) <= 1e-6, `sample ${i}`);
      },
    ),
    { numRuns: 60 },
  );
});

test('streams sample by sample', () => {
  const signal = speech.subarray(0, 2000);
  const r = new StreamingResampler(16000, 44100);
  const parts: Float32Array[] = [];
  for (let i = 0; i < signal.length; i++) parts.push(r.process(signal.subarray(i, i + 1)));
  parts.push(r.flush());
  assert.deepEqual(concat(...parts), resample(signal, 16000, 44100));
});

test('holds back only halfTaps input samples before flush', () => {
  const r = new StreamingResampler(48000, 16000);
  const out = r.process(new Float32Array(4800));
  assert.ok(r.halfTaps > 0 && r.halfTaps < 200);
  assert.equal(out.length, Math.ceil((4800 - r.halfTaps) / 3));
  assert.equal(out.length + r.flush().length, 1600);
});

test('flush and reset start a fresh stream', () => {
  const signal = speech.subarray(0, 5000);
  const r = new StreamingResampler(16000, 22050);
  const first = concat(r.process(signal), r.flush());
  const second = concat(r.process(signal), r.flush());
  assert.deepEqual(second, first);
  r.process(speech.subarray(9000, 9500));
  r.reset();
  assert.deepEqual(concat(r.process(signal), r.flush()), first);
});

test('equal rates pass samples through without copying', () => {
  const r = new StreamingResampler(16000, 16000);
  assert.equal(r.process(speech), speech);
  assert.equal(r.flush().length, 0);
  assert.equal(resample(speech, 16000, 16000), speech);
});

test('rejects invalid rates', () => {
  assert.throws(() => new StreamingResampler(0, 16000), RangeError);
  assert.throws(() => new StreamingResampler(44100.5, 16000), RangeError);
  assert.throws(() => new StreamingResampler(16000, -1), RangeError);
});

test('an odd rate pair\'s filter is built in slices, with other work in between, and gives the same output', async () => {
  const signal = speech.subarray(0, 19200);
  let turns = 0;
  let ticking = true;
  const tick = () => {
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  await Promise.all([prepareResampler(191999, 16000), prepareResampler(191999, 16000)]); // one build, shared
  ticking = false;
  assert.ok(turns >= 10, `other work ran ${turns} times while the 4097-phase table was built`);
  const sliced = new StreamingResampler(191999, 16000).process(signal);
  // Push it out of the cache (16 MB, ~10 MB a table), then build it again in one piece.
  for (const rate of [191001, 191002, 191003, 191004]) new StreamingResampler(rate, 16000);
  assert.deepEqual(new StreamingResampler(191999, 16000).process(signal), sliced);
});
