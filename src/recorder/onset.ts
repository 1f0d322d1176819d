/**
 * Where speech really began. The VAD triggers on windows that are clearly speech, but a soft first sound ("come",
 * "five", a word after a pause on a phone line) starts earlier, and a model that hears only its end misses the word.
 * This keeps the level and Silero probability of the windows in the pre-roll and walks back from the trigger over
 * those that still sound like speech: Silero above a low bar, or well above the quietest window held (or a quiet
 * room's level, after digital silence).
 */
export class OnsetHistory {
  private readonly levels: Float32Array;
  private readonly probabilities: Float32Array;
  private next = 0;
  private held = 0;

  /** `windows`: how many of the most recent windows to keep (the pre-roll's length). */
  constructor(windows: number) {
    this.levels = new Float32Array(Math.max(1, windows));
    this.probabilities = new Float32Array(Math.max(1, windows));
  }

  push(levelDb: number, probability: number): void {
    this.levels[this.next] = levelDb;
    this.probabilities[this.next] = probability;
    this.next = (this.next + 1) % this.levels.length;
    this.held = Math.min(this.held + 1, this.levels.length);
  }

  /** The held windows were raised (or lowered) by `gainDb` after they were measured (the input gain started). */
  gained(gainDb: number): void {
    for (let i = 0; i < this.levels.length; i++) this.levels[i]! += gainDb;
  }

  clear(): void {
    this.next = 0;
    this.held = 0;
  }

  /** How many windows before the newest `trigger` windows belong to the speech's onset (at most `limit`). */
  onsetWindows(trigger: number, limit: number): number {
    const at = (back: number) => (this.next - 1 - back + 2 * this.levels.length) % this.levels.length;
    let floor = Infinity;
    for (let back = trigger; back < this.held; back++) floor = Math.min(floor, this.levels[at(back)]!);
    // Digital silence has no floor to speak of; a recording's own background then would count as an onset.
    floor = Math.max(floor, QUIETEST_FLOOR_DB);
    let walked = 0;
    for (let back = trigger; back < this.held && walked < limit; back++, walked++) {
      const i = at(back);
      if (this.probabilities[i]! < ONSET_PROBABILITY && this.levels[i]! < floor + ONSET_ABOVE_FLOOR_DB) break;
    }
    return walked;
  }
}

/** Silero probability that still counts as the start of speech (the trigger needs 1 − sileroSensitivity, 0.6). */
const ONSET_PROBABILITY = 0.2;
/** Level above the quietest pre-roll window that still counts as the start of speech. */
const ONSET_ABOVE_FLOOR_DB = 12;
/** The floor is taken as no lower than a quiet room's recording (dBFS). */
const QUIETEST_FLOOR_DB = -70;
