/**
 * Turns for uploads to /v1/audio/transcriptions: at most `concurrency` run at once, at most `maxWaiting` wait for
 * a turn (their request bodies are not read meanwhile, so a waiting upload costs a socket, not memory); beyond
 * that the caller answers 429.
 */
export class UploadQueue {
  private running = 0;
  private readonly waiting: Array<{ start(): void; cancel(): void }> = [];

  constructor(
    readonly concurrency: number,
    readonly maxWaiting: number,
  ) {}

  /**
   * A turn: resolves with its release function once the upload may run; rejects with an AbortError when `signal`
   * aborts first. Undefined when the queue is full.
   */
  enter(signal?: AbortSignal): Promise<() => void> | undefined {
    if (this.running < this.concurrency) {
      this.running++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.maxWaiting) return undefined;
    return new Promise((resolve, reject) => {
      const entry = {
        start: () => {
          signal?.removeEventListener('abort', entry.cancel);
          this.running++;
          resolve(this.releaser());
        },
        cancel: () => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(new DOMException('the client left the upload queue', 'AbortError'));
        },
      };
      this.waiting.push(entry);
      signal?.addEventListener('abort', entry.cancel, { once: true });
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
      this.waiting.shift()?.start();
    };
  }
}
