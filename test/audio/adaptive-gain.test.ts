import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AdaptiveGain, DEFAULT_GAIN_SETTINGS, gainHeld } from '../../src/audio/adaptive-gain.ts';
import { NoiseFloor } from '../../src/audio/noise-floor.ts';
import { RingBuffer } from '../../src/audio/ring-buffer.ts';
import { clipSamples, concat } from '../../eval/conversation.ts';
import { atPeak, NOISE_FLOOR_DBFS, overNoise, pinkNoise, quietSpeech } from '../../eval/quiet-speech.ts';
import { SPEECH_CLIPS } from '../../eval/speech.ts';

const FRAME = 512;
const RATE = 16000;
const CLIPS = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav');
const { targetDbfs, maxGainDb, maxOutputNoiseDbfs, riseDbPerSecond } = DEFAULT_GAIN_SETTINGS;

/** The dev clips one after another, each scaled by `scale`, with a second of silence around each. */
function dialogue(scale: (x: Float32Array, i: number) => Float32Array): Float32Array {
  const gap = new Float32Array(RATE);
  return concat(gap, ...CLIPS.flatMap((c, i) => [scale(clipSamples(c), i), gap]));
}

interface Run {
  out: Float32Array;
  /** Gain after each frame. */
  gains: number[];
  catchUps: number[];
  gain: AdaptiveGain;
}

/** Through one AdaptiveGain in 32 ms frames, as the recorder feeds it. */
function level(input: Float32Array): Run {
  const gain = new AdaptiveGain();
  const out = input.slice(0, Math.floor(input.length / FRAME) * FRAME);
  const gains: number[] = [];
  const catchUps: number[] = [];
  for (let i = 0; i < out.length; i += FRAME) {
    const c = gain.process(out.subarray(i, i + FRAME));
    if (c !== 0) catchUps.push(c);
    gains.push(gain.gainDb);
  }
  return { out, gains, catchUps, gain };
}

const rmsDb = (x: Float32Array) => 10 * Math.log10(x.reduce((s, v) => s + v * v, 0) / x.length);
const peakDb = (x: Float32Array) => 20 * Math.log10(x.reduce((p, v) => Math.max(p, Math.abs(v)), 0));

/** Mean dB level of the output frames where the input speech (before the noise) is within 20 dB of its loudest. */
function speechLevelDb(out: Float32Array, speech: Float32Array): number {
  const frames: number[] = [];
  const loudest = Math.max(...Array.from({ length: out.length / FRAME }, (_, f) => rmsDb(speech.subarray(f * FRAME, (f + 1) * FRAME))));
  for (let f = 0; f < out.length / FRAME; f++) {
    if (rmsDb(speech.subarray(f * FRAME, (f + 1) * FRAME)) > loudest - 20) frames.push(rmsDb(out.subarray(f * FRAME, (f + 1) * FRAME)));
  }
  return frames.reduce((a, b) => a + b, 0) / frames.length;
}

describe('adaptive gain', () => {
  for (const peak of [-36, -46]) {
    test(`speech at ${peak} dBFS peak over the noise floor is raised to about the target level`, () => {
      const speech = dialogue((x) => atPeak(x, peak));
      const { out, gains, catchUps } = level(overNoise(speech, `unit ${peak}`));
      const gained = speechLevelDb(out, speech);
      assert.ok(Math.abs(gained - targetDbfs) <= 6, `speech comes out at ${gained.toFixed(1)} dBFS (target ${targetDbfs})`);
      assert.equal(catchUps.length, 1, 'the gain starts once, and the held audio before it is raised with it');
      assert.ok(Math.max(...gains) <= maxGainDb);
      assert.ok(peakDb(out) <= -1 + 1e-3, `output peak ${peakDb(out).toFixed(2)} dBFS`);
    });
  }

  test('speech at -56 dBFS peak is raised as far as the noise floor allows, no further', () => {
    const speech = dialogue((x) => atPeak(x, -56));
    const { out, gains, gain } = level(overNoise(speech, 'unit -56'));
    const last = gains.at(-1)!;
    assert.ok(last >= 30, `gain ${last.toFixed(1)} dB`);
    assert.ok(last <= maxOutputNoiseDbfs - NOISE_FLOOR_DBFS + 1, `the noise floor (${gain.noiseFloorDb.toFixed(1)} dBFS) caps the gain at ${last.toFixed(1)} dB`);
    // The gaps between sentences: the raised noise stays under the cap.
    const gapOut = out.subarray(Math.round(0.2 * RATE) + 5 * FRAME, RATE - FRAME);
    assert.ok(gains.slice(-10).every((g) => g <= maxOutputNoiseDbfs - gain.noiseFloorDb + 0.01));
    assert.ok(rmsDb(gapOut) < -60, 'nothing is raised before any speech');
  });

  test('speech at normal level passes untouched, sample for sample', () => {
    const input = dialogue((x) => x);
    const { out, gains } = level(input);
    assert.deepEqual(new Set(gains), new Set([0]));
    assert.ok(out.every((v, i) => v === input[i]));
  });

  test('clipped input passes untouched: the gain never attenuates', () => {
    const input = dialogue((x) => x.map((v) => Math.max(-1, Math.min(1, v * 4))));
    const { out, gains } = level(input);
    assert.deepEqual(new Set(gains), new Set([0]));
    assert.ok(out.every((v, i) => v === input[i]));
  });

  test('20 s of noise, and steady tones over it, get no gain', () => {
    const noise = pinkNoise(20 * RATE, NOISE_FLOOR_DBFS, 'unit noise');
    assert.deepEqual(new Set(level(noise).gains), new Set([0]));
    for (const toneDbfs of [-60, -40, -20]) {
      const amplitude = 10 ** (toneDbfs / 20) * Math.SQRT2;
      const tone = noise.map((v, i) => v + amplitude * Math.sin((2 * Math.PI * 440 * i) / RATE));
      assert.deepEqual(new Set(level(tone).gains), new Set([0]), `tone at ${toneDbfs} dBFS`);
    }
  });

  test('a loud talker right after a quiet one: never past the limiter, and the gain is gone within 0.1 s', () => {
    const quiet = dialogue((x, i) => (i < 5 ? atPeak(x, -46) : new Float32Array(0)));
    const loudStart = quiet.length;
    const input = overNoise(concat(quiet, ...CLIPS.slice(5).map((c) => clipSamples(c))), 'unit quiet then loud');
    const { out, gains, catchUps } = level(input);
    assert.ok(catchUps.some((c) => c <= -20), `the held pause is brought back down with the gain: ${catchUps.map((c) => c.toFixed(0))}`);
    const frameAt = (sample: number) => Math.floor(sample / FRAME);
    assert.ok(gains[frameAt(loudStart) - 1]! >= 20, `gain before the loud talker ${gains[frameAt(loudStart) - 1]}`);
    for (let f = 0; f < gains.length; f++) {
      const [a, b] = [f * FRAME, (f + 1) * FRAME];
      assert.ok(peakDb(out.subarray(a, b)) <= Math.max(-1 + 1e-3, peakDb(input.subarray(a, b))), `frame ${f} went past the limiter`);
    }
    // The loud talker's first voiced frame: the limiter holds it; a few frames on the gain is all but gone.
    const onset = frameAt(loudStart) + Array.from({ length: 60 }, (_, f) => rmsDb(input.subarray(loudStart + f * FRAME, loudStart + (f + 1) * FRAME))).findIndex((d) => d > -40);
    assert.ok(gains[onset + 3]! <= 3, `gain 3 frames into the loud talker: ${gains[onset + 3]!.toFixed(1)} dB`);
    assert.ok(Math.max(...gains.slice(onset + 10)) <= 6, 'the loud talker stays at (about) its own level');
  });

  test('after it starts, the gain rises no faster than the slew limit', () => {
    const { gains } = level(overNoise(dialogue((x, i) => atPeak(x, i % 2 ? -36 : -50)), 'unit slew'));
    let started = false;
    for (let f = 1; f < gains.length; f++) {
      if (started) assert.ok(gains[f]! - gains[f - 1]! <= (riseDbPerSecond * FRAME) / RATE + 1e-9, `frame ${f}: ${gains[f - 1]} → ${gains[f]}`);
      started ||= gains[f]! > 0;
    }
    assert.ok(started);
  });

  test('speech too quiet even at the most gain is reported; speech it can raise is not', () => {
    assert.equal(level(quietSpeech(dialogue((x) => x), -36, 'unit ok')).gain.tooQuiet, false);
    assert.equal(level(quietSpeech(dialogue((x) => x), -56, 'unit ok')).gain.tooQuiet, false);
    const faint = overNoise(dialogue((x) => atPeak(x, -76)), 'unit faint', -92);
    const run = level(faint);
    assert.equal(Math.max(...run.gains), maxGainDb);
    assert.equal(run.gain.tooQuiet, true);
    run.gain.reset();
    assert.equal(run.gain.tooQuiet, false);
    assert.equal(run.gain.gainDb, 0);
  });
});

describe('noise floor', () => {
  test('follows pink noise within 2.5 dB, and a rise in it within 5 s', () => {
    const floor = new NoiseFloor();
    const feed = (x: Float32Array) => {
      for (let i = 0; i + FRAME <= x.length; i += FRAME) floor.push(x.subarray(i, i + FRAME).reduce((s, v) => s + v * v, 0) / FRAME, FRAME / RATE);
    };
    feed(pinkNoise(6 * RATE, -72, 'floor a'));
    assert.ok(Math.abs(floor.levelDb + 72) <= 2.5, `${floor.levelDb.toFixed(2)}`);
    feed(pinkNoise(6 * RATE, -50, 'floor b'));
    assert.ok(Math.abs(floor.levelDb + 50) <= 2.5, `${floor.levelDb.toFixed(2)}`);
    feed(new Float32Array(RATE)); // digital silence is not a background
    assert.ok(Math.abs(floor.levelDb + 50) <= 2.5, `${floor.levelDb.toFixed(2)}`);
  });
});

test('gainHeld raises held audio, never past the limiter; RingBuffer.held() is the held samples', () => {
  const ring = new RingBuffer(4);
  ring.write(Float32Array.from([0.001, -0.002, 0.003]));
  gainHeld(ring.held(), 20);
  assert.deepEqual(Array.from(ring.readAll()).map((v) => Math.round(v * 1e4) / 1e4), [0.01, -0.02, 0.03]);
  const loud = Float32Array.from([0.5, -0.1]);
  gainHeld(loud, 20);
  assert.ok(Math.abs(loud[0]! - 10 ** (-1 / 20)) < 1e-6);
  gainHeld(loud, -20);
  assert.ok(Math.abs(loud[0]! - 10 ** (-21 / 20)) < 1e-6);
});
