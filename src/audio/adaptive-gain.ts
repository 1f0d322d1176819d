import { NoiseFloor, SILENCE_DBFS } from './noise-floor.ts';

/**
 * Adaptive digital gain for one stream, before the VAD: a quiet or distant talker is raised towards a normal speech
 * level, and input already at that level passes untouched. The design is WebRTC AGC2's adaptive digital controller
 * (docs/audio-gain.md): a speech level counted only on frames confidently voiced, a noise floor that caps the gain, a
 * slew limit upwards, a saturation protector, and a limiter before full scale. Frames (the VAD's 32 ms windows, 16 kHz
 * mono) are changed in place; nothing is allocated per frame.
 *
 * The speech gate is the frame's level against the noise floor, not the VAD that this stage feeds: a voice too quiet
 * for the VAD would otherwise never open the gate that raises it.
 */
export interface GainSettings {
  /** Speech level (mean dBFS of voiced frames) the gain aims at; louder speech gets no gain. */
  targetDbfs: number;
  maxGainDb: number;
  /** The noise floor is raised no higher than this: room noise and hiss are not made into words. */
  maxOutputNoiseDbfs: number;
  /**
   * From 0 dB the gain starts only when speech needs at least this much: speech near the target stays untouched, and
   * a talker near the threshold does not flip the gain on and off. Once started it follows the speech level.
   */
  minStartGainDb: number;
  /** Upward slew once the first estimate is in (decreases are immediate). */
  riseDbPerSecond: number;
  /** A frame is voiced when its level is this far above the noise floor. */
  gateMarginDb: number;
}

/**
 * Measured in docs/audio-gain.md: the dev clips' speech levels are -21 to -32.5 dBFS, so with a -30 target and a
 * 12 dB start threshold none of them gets any gain; a -56 dBFS-peak talker needs about 38 dB; -36 dBFS output noise
 * let every -56 dBFS sentence through (-30 did no better); 6 dB/s is AGC2's; a 4 dB gate margin opened on -56 dBFS
 * speech in 2 s where 6 dB took 27 s, and never on 30 minutes of noise.
 */
export const DEFAULT_GAIN_SETTINGS: Readonly<GainSettings> = Object.freeze({
  targetDbfs: -30,
  maxGainDb: 40,
  maxOutputNoiseDbfs: -36,
  minStartGainDb: 12,
  riseDbPerSecond: 6,
  gateMarginDb: 4,
});

/**
 * The gate listens to the input above this (first-order high-pass): a room's noise is pink or brown, and its frame
 * level swings with its lowest frequencies, which speech hardly needs. Broadband, 60 s of brown noise opened the gate
 * in 13 to 20 of 30 runs (pink, brown, white); above 100-300 Hz in none, even at a 3 dB margin.
 */
const HIGH_PASS_HZ = 200;
const HIGH_PASS = 1 / (1 + (2 * Math.PI * HIGH_PASS_HZ) / 16000);
/** Voiced frames in a row before they count as speech (96 ms): single clicks do not. */
const GATE_RUN_FRAMES = 3;
/** Speech frames needed before the first estimate is trusted (~0.2 s); until then the gain holds at 0 dB. */
const CONFIDENT_FRAMES = 3;
/**
 * The speech level follows louder speech within about RISE_SECONDS and softer within FALL_SECONDS of speech (in dB, so a
 * loud syllable does not dominate): a loud talker after a quiet one takes the gain down at once, a pause's tail does not
 * bring it up.
 */
const RISE_SECONDS = 0.3;
const FALL_SECONDS = 1.5;
/** A fall of the gain this large in one frame is passed on to the held audio (see process()). */
const HELD_DROP_DB = 10;
/** Output peaks are limited to this (dBFS): a sample never reaches full scale through the gain. */
const LIMITER_DBFS = -1;
/** The saturation protector keeps the recent speech peaks this far below the limiter. */
const PEAK_HEADROOM_DB = 3;
/** The recent-peak envelope falls this fast during speech, so a loud talker's peak does not cap the next one for long. */
const PEAK_DECAY_DB_PER_SECOND = 10;
/** Input too quiet to use: voiced output still this far below the target after the most gain allowed... */
const TOO_QUIET_BELOW_TARGET_DB = 12;
/** ...for this many seconds of voiced frames (speech that faint opens the gate only now and then: at -80 dBFS peak over -94, 0.6 s in a minute). */
const TOO_QUIET_SECONDS = 0.25;
const SAMPLE_RATE = 16000;
const LIMIT = 10 ** (LIMITER_DBFS / 20);

/** Changes held audio by `gainDb` in place; raised no further than the limiter allows its peak. */
export function gainHeld(samples: Float32Array, gainDb: number): void {
  let peak = 0;
  for (let i = 0; i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]!));
  const linear = gainDb < 0 ? 10 ** (gainDb / 20) : peak > 0 ? Math.max(1, Math.min(10 ** (gainDb / 20), LIMIT / peak)) : 1;
  if (linear !== 1) for (let i = 0; i < samples.length; i++) samples[i]! *= linear;
}

export class AdaptiveGain {
  readonly settings: Readonly<GainSettings> = DEFAULT_GAIN_SETTINGS;
  private readonly floor = new NoiseFloor();
  /** The floor of the high-passed signal, which the gate compares against. */
  private readonly gateFloor = new NoiseFloor();
  /** Last input sample of the previous frame (the high-pass filter's state). */
  private previous = 0;
  /** The high-passed signal's last sample. */
  private high = 0;
  private gainDbValue = 0;
  /** Linear gain applied to the last sample of the previous frame (ramps start from it). */
  private appliedLinear = 1;
  private voicedRun = 0;
  private speechFrames = 0;
  private speechDb = 0;
  private peakEnvelopeDb = -Infinity;
  private quietSeconds = 0;
  private tooQuietValue = false;

  /** The gain of the last frame in dB, before the limiter (0 until speech has been measured). */
  get gainDb(): number {
    return this.gainDbValue;
  }

  /** Background level (dBFS RMS) under the input. */
  get noiseFloorDb(): number {
    return this.floor.levelDb;
  }

  /** Speech was heard and stayed too quiet even at the most gain allowed (sticky until reset()). */
  get tooQuiet(): boolean {
    return this.tooQuietValue;
  }

  /**
   * Levels `frame` in place. Returns the change of gain (dB) that audio held from before this frame should get too
   * (0 mostly): all of it when the gain has just started from 0 dB (the start of the words was heard without it), or
   * the fall when a much louder talker took it down at once (the pause before them was raised for the quiet one).
   */
  process(frame: Float32Array): number {
    const n = frame.length;
    if (n === 0) return 0;
    let sum = 0;
    let highPassed = 0;
    let peak = 0;
    let previous = this.previous;
    let high = this.high;
    for (let i = 0; i < n; i++) {
      const v = frame[i]!;
      sum += v * v;
      high = HIGH_PASS * (high + v - previous);
      highPassed += high * high;
      previous = v;
      const a = v < 0 ? -v : v;
      if (a > peak) peak = a;
    }
    this.previous = previous;
    this.high = high;
    const meanSquare = sum / n;
    const seconds = n / SAMPLE_RATE;
    this.floor.push(meanSquare, seconds);
    this.gateFloor.push(highPassed / n, seconds);
    const levelDb = meanSquare > 0 ? 10 * Math.log10(meanSquare) : -Infinity;
    const gateDb = highPassed > 0 ? 10 * Math.log10(highPassed / n) : -Infinity;
    const floorDb = this.floor.levelDb;
    const s = this.settings;
    this.voicedRun = gateDb > Math.max(this.gateFloor.levelDb, SILENCE_DBFS) + s.gateMarginDb ? this.voicedRun + 1 : 0;
    const speech = this.voicedRun >= GATE_RUN_FRAMES;
    if (speech) this.measureSpeech(levelDb, 20 * Math.log10(peak), seconds);

    const known = this.speechFrames >= CONFIDENT_FRAMES;
    let held = 0;
    let target = known ? Math.min(s.maxGainDb, s.targetDbfs - this.speechDb) : this.gainDbValue;
    const starting = this.gainDbValue === 0;
    if (starting && target < s.minStartGainDb) target = 0;
    target = Math.max(0, Math.min(target, s.maxOutputNoiseDbfs - floorDb, LIMITER_DBFS - PEAK_HEADROOM_DB - this.peakEnvelopeDb));
    if (target < this.gainDbValue) {
      // The held audio goes back to 0 dB: the rest of the fall comes over the next frames, too little each to pass on.
      if (this.gainDbValue - target >= HELD_DROP_DB) held = -this.gainDbValue;
      this.gainDbValue = target;
    } else if (speech && known) {
      // Starting from 0 dB the gain jumps: at a few dB/s a soft talker's first sentence would be over before the gain
      // arrived. After that it only creeps up, on speech, so a pause or a loud cough does not pump it.
      this.gainDbValue = starting ? target : Math.min(target, this.gainDbValue + s.riseDbPerSecond * seconds);
      if (starting) held = target;
    }
    if (speech && known) this.watchTooQuiet(levelDb, Math.min(s.maxGainDb, s.maxOutputNoiseDbfs - floorDb), seconds);
    this.apply(frame, peak);
    return held;
  }

  /** Starts over, as for a new stream. */
  reset(): void {
    this.floor.reset();
    this.gateFloor.reset();
    this.previous = 0;
    this.high = 0;
    this.gainDbValue = 0;
    this.appliedLinear = 1;
    this.voicedRun = 0;
    this.speechFrames = 0;
    this.speechDb = 0;
    this.peakEnvelopeDb = -Infinity;
    this.quietSeconds = 0;
    this.tooQuietValue = false;
  }

  private measureSpeech(levelDb: number, peakDb: number, seconds: number): void {
    this.speechFrames++;
    // A running mean at first, then exponential ones.
    const weight = Math.max(1 / this.speechFrames, seconds / (levelDb > this.speechDb ? RISE_SECONDS : FALL_SECONDS));
    this.speechDb += (levelDb - this.speechDb) * weight;
    this.peakEnvelopeDb = Math.max(peakDb, this.peakEnvelopeDb - PEAK_DECAY_DB_PER_SECOND * seconds);
  }

  /** Counts voiced frames that the gain, at its ceiling (most gain, or the noise floor's cap), leaves too quiet. */
  private watchTooQuiet(levelDb: number, ceilingDb: number, seconds: number): void {
    const atCeiling = this.gainDbValue >= ceilingDb - 0.5;
    if (atCeiling && levelDb + this.gainDbValue < this.settings.targetDbfs - TOO_QUIET_BELOW_TARGET_DB) this.quietSeconds += seconds;
    else if (!atCeiling) this.quietSeconds = 0;
    if (this.quietSeconds >= TOO_QUIET_SECONDS) this.tooQuietValue = true;
  }

  /**
   * Gain, then the limiter: the whole frame is known before it is scaled, so a frame whose peak would pass
   * LIMITER_DBFS gets exactly the gain that puts it there (no look-ahead delay needed). A rising gain ramps over the
   * frame from the last one's; a falling one applies at once.
   */
  private apply(frame: Float32Array, peak: number): void {
    let linear = 10 ** (this.gainDbValue / 20);
    if (peak * linear > LIMIT) linear = Math.max(1, LIMIT / peak);
    const from = this.appliedLinear;
    this.appliedLinear = linear;
    if (linear === 1 && from === 1) return;
    const n = frame.length;
    if (linear <= from) {
      for (let i = 0; i < n; i++) frame[i]! *= linear;
      return;
    }
    const step = (linear - from) / n;
    for (let i = 0; i < n; i++) frame[i]! *= from + step * (i + 1);
  }
}
