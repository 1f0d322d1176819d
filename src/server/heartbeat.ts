import type { Connection } from './connection-registry.ts';
import type { Logger } from './logger.ts';

/** Dead peer detection: every period each WebSocket is pinged; one that did not answer the previous ping is dropped. */
export class Heartbeat {
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly connections: Iterable<Connection>,
    private readonly log: Logger,
  ) {}

  start(periodMs: number): void {
    this.timer = setInterval(() => this.beat(), periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  private beat(): void {
    for (const c of this.connections) {
      if (!c.ws) continue;
      if (!c.alive) {
        this.log.info({ session: c.session.session.id }, 'no pong; dropping the connection');
        c.terminate();
        continue;
      }
      c.alive = false;
      try {
        c.ws.ping();
      } catch {
        c.terminate();
      }
    }
  }
}
