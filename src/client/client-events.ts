import type { ServerMessage } from '../protocol/seed-messages.ts';
import { EarshotError, type ClientEvents } from './client-codec.ts';

type Listener<E extends keyof ClientEvents> = (payload: ClientEvents[E]) => void;

/** The client's typed events, next() on them, and its messages as an async iterator. */
export class ClientEventEmitter {
  private readonly listeners = new Map<keyof ClientEvents, Set<(payload: never) => void>>();
  /** Messages not yet taken by an iterator (only kept once messages() has been called). */
  private readonly queue: ServerMessage[] = [];
  private readonly waiters: Array<(r: IteratorResult<ServerMessage>) => void> = [];
  private iterating = false;
  /** Set once the client is closed for good. */
  protected closedInfo?: { code: number; reason: string };

  on<E extends keyof ClientEvents>(event: E, listener: Listener<E>): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener as (payload: never) => void);
    return () => set.delete(listener as (payload: never) => void);
  }

  off<E extends keyof ClientEvents>(event: E, listener: Listener<E>): void {
    this.listeners.get(event)?.delete(listener as (payload: never) => void);
  }

  /** Resolves with the next payload of `event` that passes `filter`; rejects on close or after timeoutMs. */
  next<E extends keyof ClientEvents>(event: E, filter: (p: ClientEvents[E]) => boolean = () => true, timeoutMs = 60000): Promise<ClientEvents[E]> {
    return new Promise((resolve, reject) => {
      if (this.closedInfo && event !== 'close') {
        reject(new EarshotError('CLOSED', `connection closed (${this.closedInfo.code})`));
        return;
      }
      const cleanup = () => {
        offEvent();
        offClose();
        clearTimeout(timer);
      };
      const offEvent = this.on(event, (p) => {
        if (!filter(p)) return;
        cleanup();
        resolve(p);
      });
      const offClose =
        event === 'close'
          ? () => {}
          : this.on('close', (c) => {
              cleanup();
              reject(new EarshotError('CLOSED', `connection closed (${c.code}${c.reason ? ` ${c.reason}` : ''}) while waiting for ${event}`));
            });
      const timer = setTimeout(() => {
        cleanup();
        reject(new EarshotError('TIMEOUT', `no ${event} within ${timeoutMs} ms`));
      }, timeoutMs);
    });
  }

  /**
   * Every server message from now on, in order, until the client closes. Messages are buffered from the first
   * call on, so iterate from one place only.
   */
  messages(): AsyncIterableIterator<ServerMessage> {
    this.iterating = true;
    const self = this;
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      next(): Promise<IteratorResult<ServerMessage>> {
        const queued = self.queue.shift();
        if (queued) return Promise.resolve({ value: queued, done: false });
        if (self.closedInfo) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => self.waiters.push(resolve));
      },
      return(): Promise<IteratorResult<ServerMessage>> {
        self.iterating = false;
        self.queue.length = 0;
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ServerMessage> {
    return this.messages();
  }

  /** Hands a message to the iterator, if one runs. */
  protected enqueue(msg: ServerMessage): void {
    if (!this.iterating) return;
    const waiter = this.waiters.shift();
    if (waiter) waiter({ value: msg, done: false });
    else this.queue.push(msg);
  }

  /** Ends the iterators once closed. */
  protected endMessages(): void {
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  protected emit<E extends keyof ClientEvents>(event: E, payload: ClientEvents[E]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const l of [...set]) {
      try {
        (l as Listener<E>)(payload);
      } catch (e) {
        // One broken listener must not starve the others, nor break the client.
        console.error('earshot: listener failed on', event, e);
      }
    }
  }
}
