import type { ClientLimits } from './client-limits.ts';
import type { SlotRefusal } from './transcription-session.ts';

/** The server's listening sessions (live cycles and uploads alike): at most `max`, and each client's share. */
export class SessionSlots {
  private active = 0;

  constructor(
    private readonly max: number,
    private readonly maxPerClient: number,
    private readonly clients: ClientLimits,
  ) {}

  get count(): number {
    return this.active;
  }

  get full(): boolean {
    return this.active >= this.max;
  }

  /** A slot for a client: refused at the server's cap or at the client's own share. */
  acquire(address: string): SlotRefusal | undefined {
    if (this.full) return { code: 'OVERLOADED', message: 'the server is at its maximum number of sessions; try again later' };
    if (!this.clients.tryStartSession(address)) {
      return { code: 'CLIENT_LIMIT', message: `${address} already has ${this.maxPerClient} sessions (the most one client may hold); stop one first` };
    }
    this.active++;
    return undefined;
  }

  release(address: string): void {
    this.active = Math.max(0, this.active - 1);
    this.clients.endSession(address);
  }
}
