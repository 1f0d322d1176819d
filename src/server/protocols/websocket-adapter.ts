import { CLOSE_START_TIMEOUT, type ErrorCode } from '../../protocol/seed-messages.ts';
import type { SessionTransport, TranscriptionSession } from '../transcription-session.ts';

/** The part of a `ws` WebSocket an adapter uses (a fake one in unit tests). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  pause?(): void;
  resume?(): void;
}

/** What the server holds of each WebSocket connection, whatever its protocol. */
export interface ProtocolConnection {
  readonly session: { readonly id: string; error(code: ErrorCode, message: string): void };
  /** A frame in. May throw: the server answers INTERNAL_ERROR through the session. */
  handleMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void;
  /** Server shutdown: the final in progress is delivered, then the connection is closed. */
  shutdown(): Promise<void>;
  /**
   * SIGTERM drain: the connection closes right after its next final (no sentence cut), within `boundMs`, in a way
   * that tells the client to reconnect elsewhere (1012 on a WebSocket).
   */
  drain(boundMs: number): void;
  /** The socket is gone. */
  handleClose(): void;
}

/** Close reason for a drained connection (code 1012, "service restart"). */
export const RESTART_REASON = 'server restarting; reconnect';

/** A client over the hard send limit gets a close frame; if it does not even read that, it is cut after this. */
const CLOSE_GRACE_MS = 2000;

/**
 * The session core's view of a WebSocket: its send queue, backpressure on reading, and 1008 for a peer that does not
 * read. With `closeIdle`, a connection that sends no start in time is closed with 4408 (see SessionTransport).
 */
export function socketTransport(ws: WebSocketLike, options: { closeIdle?: boolean } = {}): SessionTransport {
  return {
    get bufferedAmount() {
      return ws.bufferedAmount;
    },
    pause: ws.pause && (() => ws.pause!()),
    resume: ws.resume && (() => ws.resume!()),
    cut(reason) {
      ws.close(1008, reason);
      setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
    },
    closeIdle: options.closeIdle
      ? (reason) => {
          ws.close(CLOSE_START_TIMEOUT, reason);
          setTimeout(() => ws.terminate(), CLOSE_GRACE_MS).unref();
        }
      : undefined,
  };
}

export function toBuffer(data: Buffer | ArrayBuffer | Buffer[]): Buffer {
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
}

/** Closes a WebSocket for a drain: 1012, so the client reconnects (through the balancer, elsewhere). */
export function closeForRestart(ws: WebSocketLike): void {
  if (ws.readyState === 1) ws.close(1012, RESTART_REASON);
}

/** What every WebSocket protocol does alike at the end of a connection: shutdown (1001), drain (1012), close. */
export abstract class WebSocketProtocol<Tag> implements ProtocolConnection {
  abstract readonly session: TranscriptionSession<Tag>;

  constructor(protected readonly ws: WebSocketLike) {}

  abstract handleMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void;

  /** Server shutdown: the final in progress is delivered, then the socket closes with 1001. */
  async shutdown(): Promise<void> {
    await this.session.shutdown();
    if (this.ws.readyState === 1) this.ws.close(1001, 'server shutting down');
  }

  drain(boundMs: number): void {
    this.session.drain(boundMs, () => closeForRestart(this.ws));
  }

  handleClose(): void {
    this.session.close();
  }
}
