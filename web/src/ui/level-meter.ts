/** Input level meter: RMS in dBFS mapped from -60..0 dB onto 0..1, with a short decay so it does not flicker. */
const FLOOR_DB = -60;
const DECAY = 0.8;

export function levelFromRms(rms: number): number {
  if (!(rms > 0)) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db - FLOOR_DB) / -FLOOR_DB));
}

export class LevelMeter {
  private value = 0;
  private readonly bar: HTMLElement;

  constructor(private readonly root: HTMLElement) {
    this.bar = root.querySelector<HTMLElement>('.level-bar') ?? root;
    this.setVisible(false);
  }

  setVisible(visible: boolean): void {
    this.root.classList.toggle('active', visible);
    if (!visible) this.set(0, true);
  }

  set(rms: number, instant = false): void {
    const target = levelFromRms(rms);
    this.value = instant || target >= this.value ? target : Math.max(target, this.value * DECAY);
    this.bar.style.transform = `scaleX(${this.value.toFixed(3)})`;
    this.root.setAttribute('aria-valuenow', String(Math.round(this.value * 100)));
  }
}
