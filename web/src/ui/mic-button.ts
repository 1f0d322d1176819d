/** The mic toggle: data-state and classes follow the seed (listening / recording / processing), plus ARIA. */
import type { SttState } from '../../../src/protocol/seed-messages.ts';

const STATE_CLASSES: Record<SttState, string[]> = {
  idle: [],
  listening: ['listening'],
  recording: ['recording'],
  transcribing: ['processing'],
};

export class MicButton {
  constructor(private readonly button: HTMLButtonElement) {
    this.setActive(false);
    this.setState('idle');
  }

  onToggle(handler: () => void): void {
    this.button.addEventListener('click', handler);
  }

  setState(state: SttState): void {
    this.button.dataset.state = state;
    this.button.classList.remove('listening', 'recording', 'processing');
    this.button.classList.add(...STATE_CLASSES[state]);
  }

  setActive(on: boolean): void {
    this.button.setAttribute('aria-pressed', String(on));
    const label = on ? 'Stop microphone' : 'Start microphone';
    this.button.setAttribute('aria-label', label);
    this.button.title = `${label} (Space)`;
    this.button.classList.toggle('active', on);
  }

  setBusy(busy: boolean): void {
    this.button.setAttribute('aria-busy', String(busy));
  }
}
