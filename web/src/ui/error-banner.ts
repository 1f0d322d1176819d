/** Inline error (#stt-error): plain words, the code kept in data-code, dismissible. */
import { describeError } from './error-text.ts';

export class ErrorBanner {
  private readonly text: HTMLElement;

  constructor(private readonly root: HTMLElement) {
    this.text = root.querySelector<HTMLElement>('.error-text') ?? root;
    root.querySelector<HTMLButtonElement>('.error-dismiss')?.addEventListener('click', () => this.clear());
    this.clear();
  }

  show(code: string, detail?: string): void {
    this.root.dataset.code = code;
    this.text.textContent = describeError(code, detail);
    this.root.hidden = false;
  }

  clear(): void {
    this.root.hidden = true;
    delete this.root.dataset.code;
    this.text.textContent = '';
  }
}
