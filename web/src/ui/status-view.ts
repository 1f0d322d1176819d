/** The two status indicators: the STT state (#stt-state, text = state) and the connection (#connection-state). */
import type { SttState } from '../../../src/protocol/seed-messages.ts';
import type { ConnectionInfo, ConnectionState } from '../../../src/client/earshot-client.ts';

export function connectionText(state: ConnectionState, info: ConnectionInfo): string {
  switch (state) {
    case 'connecting':
      return 'Connecting…';
    case 'connected':
      return 'Connected';
    case 'reconnecting':
      return info.retryInMs !== undefined && info.retryInMs >= 1000
        ? `Reconnecting in ${Math.round(info.retryInMs / 1000)} s…`
        : 'Reconnecting…';
    case 'closed':
      return 'Disconnected';
  }
}

export class StatusView {
  constructor(
    private readonly sttState: HTMLElement,
    private readonly connection: HTMLElement,
  ) {}

  setSttState(state: SttState): void {
    this.sttState.textContent = state;
    this.sttState.dataset.state = state;
  }

  setConnection(state: ConnectionState, info: ConnectionInfo): void {
    this.connection.dataset.state = state;
    this.connection.textContent = connectionText(state, info);
    document.body.dataset.connection = state;
  }
}
