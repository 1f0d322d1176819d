/**
 * The level of the background a recording sits on, by minimum statistics: the quietest frame of the last few seconds,
 * corrected for the bias of taking a minimum. Speech has pauses between words, so the quietest frames of any few
 * seconds are background; the estimate follows a rising background within SUBWINDOWS × SUBWINDOW_SECONDS and a
 * falling one at once. Like WebRTC AGC2's NoiseFloorEstimator (min over 5 s periods), without its signal classifier.
 */

/** The minimum is taken over this many sub-windows of SUBWINDOW_SECONDS (4 × 1.25 s: 5 s, as in AGC2). */
const SUBWINDOWS = 4;
const SUBWINDOW_SECONDS = 1.25;
/**
 * The quietest 32 ms frame of steady noise lies below the noise's mean level: measured over 5 s, 20 seeds, the minimum
 * is 3.2 dB (2.6-3.6) under the mean for pink noise and 0.5 dB (0.4-0.7) for white. Rooms are pinker than white; a
 * floor read a little low only lets the gate open a little early.
 */
const MINIMUM_BIAS_DB = 2.5;
/** Frames quieter than this are digital silence (padding, a muted source), not a background. */
export const SILENCE_DBFS = -96;

export class NoiseFloor {
  /** Mean square of the quietest frame in each finished sub-window, oldest overwritten first. */
  private readonly minima = new Float64Array(SUBWINDOWS).fill(Infinity);
  private next = 0;
  private current = Infinity;
  private seconds = 0;

  /** dBFS (RMS, full-scale square = 0) of the background; SILENCE_DBFS before any frame above it. */
  get levelDb(): number {
    let min = this.current;
    for (let i = 0; i < SUBWINDOWS; i++) min = Math.min(min, this.minima[i]!);
    return min === Infinity ? SILENCE_DBFS : Math.max(SILENCE_DBFS, 10 * Math.log10(min) + MINIMUM_BIAS_DB);
  }

  /** One frame's mean square and duration. */
  push(meanSquare: number, seconds: number): void {
    if (meanSquare > 10 ** (SILENCE_DBFS / 10)) this.current = Math.min(this.current, meanSquare);
    this.seconds += seconds;
    if (this.seconds < SUBWINDOW_SECONDS) return;
    this.seconds -= SUBWINDOW_SECONDS;
    this.minima[this.next] = this.current;
    this.next = (this.next + 1) % SUBWINDOWS;
    this.current = Infinity;
  }

  reset(): void {
    this.minima.fill(Infinity);
    this.next = 0;
    this.current = Infinity;
    this.seconds = 0;
  }
}
