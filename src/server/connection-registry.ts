import type { WebSocket } from 'ws';
import type { Logger } from './logger.ts';
import type { ServerMetrics } from './metrics.ts';
import type { ProtocolConnection } from './protocols/websocket-adapter.ts';

export interface Connection {
  /** WebSocket connections get heartbeat pings; Wyoming's TCP ones do not. */
  readonly ws?: WebSocket;
  terminate(): void;
  readonly session: ProtocolConnection;
  /** Answered the last heartbeat ping. */
  alive: boolean;
  readonly closed: Promise<void>;
}

/** What a transport calls for each frame in and once its socket has closed. */
export interface ConnectionLink {
  readonly conn: Connection;
  receive(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void;
  closed(): void;
}

/** The open connections of every protocol: counted, pinged, drained and cut at shutdown. */
export class ConnectionRegistry implements Iterable<Connection> {
  private readonly connections = new Set<Connection>();

  constructor(
    private readonly metrics: ServerMetrics,
    /** Told when a connection of this client has closed (admission gives its share back). */
    private readonly onClosed: (address: string) => void,
  ) {}

  get size(): number {
    return this.connections.size;
  }

  [Symbol.iterator](): Iterator<Connection> {
    return this.connections[Symbol.iterator]();
  }

  /** Registers a connection; a throwing adapter answers INTERNAL_ERROR and the connection goes on. */
  track(session: ProtocolConnection, address: string, log: Logger, terminate: () => void, ws?: WebSocket): ConnectionLink {
    let markClosed!: () => void;
    const conn: Connection = { ws, terminate, session, alive: true, closed: new Promise((r) => (markClosed = r)) };
    this.connections.add(conn);
    this.metrics.connections.inc();
    return {
      conn,
      receive(data, isBinary) {
        try {
          session.handleMessage(data, isBinary);
        } catch (e) {
          log.error({ err: e }, 'failed handling a message');
          session.session.error('INTERNAL_ERROR', 'internal error handling the message');
        }
      },
      closed: () => {
        this.connections.delete(conn);
        this.onClosed(address);
        session.handleClose();
        markClosed();
      },
    };
  }
}
