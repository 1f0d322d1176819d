/**
 * A scripted stand-in for the server's /ws/stream, for unit tests of the client and the web controller:
 * records what clients send (JSON and binary) and lets the test answer.
 */
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';

export type Received = { kind: 'json'; value: Record<string, unknown> } | { kind: 'binary'; bytes: Buffer };

export class FakeSttServer {
  readonly received: Received[] = [];
  private server: WebSocketServer | null = null;
  private readonly clients = new Set<WebSocket>();
  private waiters: Array<() => void> = [];
  port = 0;
  /** Answer `ping` with `pong` (turn off to simulate a connection that went silent). */
  answerPings = true;

  /** Listens on 127.0.0.1 (port 0: any free port; reuse a port to simulate a restart). */
  async start(port = 0): Promise<this> {
    const server = new WebSocketServer({ host: '127.0.0.1', port, path: '/ws/stream' });
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    server.on('connection', (ws) => {
      this.clients.add(ws);
      ws.on('close', () => this.clients.delete(ws));
      ws.on('message', (data, isBinary) => {
        const bytes = Buffer.isBuffer(data) ? data : Buffer.concat(Array.isArray(data) ? data : [Buffer.from(data)]);
        if (isBinary) this.received.push({ kind: 'binary', bytes });
        else {
          const value = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
          this.received.push({ kind: 'json', value });
          if (value.type === 'ping' && this.answerPings) ws.send(JSON.stringify({ type: 'pong' }));
        }
        this.wake();
      });
      this.wake();
    });
    return this;
  }

  get url(): string {
    return `ws://127.0.0.1:${this.port}/ws/stream`;
  }

  get connectionCount(): number {
    return this.clients.size;
  }

  /** JSON messages received, in order. */
  json(type?: string): Array<Record<string, unknown>> {
    return this.received
      .filter((r): r is Extract<Received, { kind: 'json' }> => r.kind === 'json')
      .map((r) => r.value)
      .filter((v) => type === undefined || v.type === type);
  }

  binaryBytes(): number {
    return this.received.reduce((n, r) => n + (r.kind === 'binary' ? r.bytes.length : 0), 0);
  }

  /** Sends a message to every connected client. */
  send(message: Record<string, unknown>): void {
    const text = JSON.stringify(message);
    for (const ws of this.clients) ws.send(text);
  }

  /** Closes every client connection with `code` (the server's idle close is 4408). */
  closeAll(code: number, reason = ''): void {
    for (const ws of this.clients) ws.close(code, reason);
  }

  /** Resolves once `check` is true (re-checked on every event), or rejects after `timeoutMs`. */
  async until(check: () => boolean, timeoutMs = 60_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Drops every client connection abruptly and stops listening. */
  async stop(): Promise<void> {
    for (const ws of this.clients) ws.terminate();
    this.clients.clear();
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
