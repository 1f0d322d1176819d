import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Transcript } from '../asr/engine.ts';
import type { RecorderConfig } from '../recorder/recorder-config.ts';
import type { TranscriptionService } from '../recorder/transcription-service.ts';
import { DEFAULT_SERVER_CONFIG, type ServerConfig } from './config.ts';
import { silentLogger, type Logger } from './logger.ts';
import { PROMETHEUS_CONTENT_TYPE, ServerMetrics } from './metrics.ts';
import { MAX_AUDIO_FRAME_BYTES } from './protocol.ts';
import { originAllowed, requestToken, tokenMatches } from './security.ts';
import { Session, type SessionHost } from './session.ts';
import { serveStatic } from './static-files.ts';
import { handleTranscription, sendApiError, type TranscriptionHost } from './transcriptions-api.ts';

export const WS_PATH = '/ws/stream';
/**
 * ws closes the connection (1009) for frames over this; frames between MAX_AUDIO_FRAME_BYTES and this are read and
 * answered with AUDIO_FRAME_TOO_LARGE, and the connection stays usable.
 */
const WS_MAX_PAYLOAD = 2 * MAX_AUDIO_FRAME_BYTES;

export interface EarshotServerOptions {
  /** Missing keys take DEFAULT_SERVER_CONFIG's values. */
  config?: Partial<ServerConfig>;
  /** The shared models, or their loading promise; may also be given later with useService(). */
  service?: TranscriptionService | Promise<TranscriptionService>;
  log?: Logger;
  /** Recorder settings for every session (tests; the CLI uses the defaults). */
  recorderConfig?: Partial<RecorderConfig>;
}

interface Connection {
  ws: WebSocket;
  session: Session;
  alive: boolean;
  closed: Promise<void>;
}

type ServiceState = { kind: 'loading' } | { kind: 'ready'; service: TranscriptionService } | { kind: 'failed'; error: Error };

/**
 * The Earshot HTTP server: WebSocket /ws/stream (one Session per connection), the web client at /, /health, /ready,
 * /metrics and POST /v1/audio/transcriptions. Models are shared through one TranscriptionService.
 */
export class EarshotServer {
  readonly config: ServerConfig;
  readonly metrics: ServerMetrics;
  readonly log: Logger;
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  private readonly connections = new Set<Connection>();
  private readonly httpJobs = new Set<Promise<void>>();
  private activeSessions = 0;
  private state: ServiceState = { kind: 'loading' };
  private readonly servicePromise: Promise<TranscriptionService>;
  private resolveService!: (s: TranscriptionService) => void;
  private rejectService!: (e: Error) => void;
  private serviceGiven = false;
  private heartbeat?: NodeJS.Timeout;
  private closing?: Promise<void>;
  private unhook?: () => void;

  constructor(private readonly options: EarshotServerOptions = {}) {
    this.config = { ...DEFAULT_SERVER_CONFIG, ...stripUndefined(options.config ?? {}) };
    this.log = options.log ?? silentLogger;
    this.metrics = new ServerMetrics({
      sessions: () => this.activeSessions,
      connections: () => this.connections.size,
      queueDepth: () => (this.state.kind === 'ready' ? this.state.service.scheduler.queueDepth : 0),
      schedulerStats: () => (this.state.kind === 'ready' ? { ...this.state.service.scheduler.stats } : undefined),
    });
    this.servicePromise = new Promise((resolve, reject) => {
      this.resolveService = resolve;
      this.rejectService = reject;
    });
    this.servicePromise.catch(() => {});
    this.http = http.createServer((req, res) => this.onRequest(req, res));
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.http.on('clientError', (_e, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: WS_MAX_PAYLOAD, perMessageDeflate: false, clientTracking: false });
    if (options.service) this.useService(options.service);
  }

  /** Hands the server its models (or their loading promise); /ready turns 200 once they are loaded. */
  useService(service: TranscriptionService | Promise<TranscriptionService>): void {
    if (this.serviceGiven) throw new Error('the server already has a service');
    this.serviceGiven = true;
    Promise.resolve(service).then(
      (s) => {
        this.state = { kind: 'ready', service: s };
        this.hookScheduler(s);
        this.resolveService(s);
      },
      (e: unknown) => {
        const error = e instanceof Error ? e : new Error(String(e));
        this.state = { kind: 'failed', error };
        this.rejectService(error);
      },
    );
  }

  get ready(): boolean {
    return this.state.kind === 'ready';
  }

  /** Resolves when the models are loaded; rejects when they failed to. */
  whenReady(): Promise<TranscriptionService> {
    return this.servicePromise;
  }

  get sessions(): number {
    return this.activeSessions;
  }

  /** Starts listening on config.host:config.port (port 0: any free port); resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        this.http.off('listening', onListening);
        if (e.code === 'EADDRINUSE') reject(new Error(`port ${this.config.port} on ${this.config.host} is already in use; pick another with --port`));
        else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') reject(new Error(`cannot listen on host ${this.config.host}: ${e.code}`));
        else if (e.code === 'EACCES') reject(new Error(`no permission to listen on port ${this.config.port}; use a port above 1023`));
        else reject(e);
      };
      const onListening = () => {
        this.http.off('error', onError);
        this.heartbeat = setInterval(() => this.beat(), this.config.heartbeatMs);
        this.heartbeat.unref();
        resolve(this.http.address() as AddressInfo);
      };
      this.http.once('error', onError);
      this.http.once('listening', onListening);
      this.http.listen(this.config.port, this.config.host);
    });
  }

  get address(): AddressInfo {
    const a = this.http.address();
    if (!a || typeof a === 'string') throw new Error('server is not listening');
    return a;
  }

  /** http://host:port of the bound address. */
  get url(): string {
    const { address, port, family } = this.address;
    const host = family === 'IPv6' ? `[${address}]` : address;
    return `http://${host}:${port}`;
  }

  /**
   * Graceful shutdown: stop accepting connections, stop every live session (its final in progress is delivered),
   * close the sockets with 1001, wait for running HTTP transcriptions; whatever is left after config.shutdownMs is
   * cut. Does not dispose the service (the caller owns it).
   */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  get shuttingDown(): boolean {
    return this.closing !== undefined;
  }

  private async shutdown(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    const stopped = new Promise<void>((resolve) => {
      if (!this.http.listening) resolve();
      else this.http.close(() => resolve());
    });
    this.http.closeIdleConnections();
    const conns = [...this.connections];
    const graceful = Promise.all([
      ...conns.map(async (c) => {
        await c.session.shutdown();
        await c.closed;
      }),
      ...this.httpJobs,
    ]);
    const deadline = delay(this.config.shutdownMs);
    const finished = await Promise.race([graceful.then(() => true), deadline.promise.then(() => false)]);
    deadline.cancel();
    if (!finished) this.log.warn('shutdown deadline reached; cutting the remaining connections');
    for (const c of this.connections) c.ws.terminate();
    this.http.closeAllConnections();
    const last = delay(500);
    await Promise.race([stopped, last.promise]);
    last.cancel();
    this.unhook?.();
  }

  // ---- HTTP ---------------------------------------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    this.route(req, res).catch((e: unknown) => {
      this.log.error(`${req.method} ${req.url}: ${(e as Error).stack ?? e}`);
      if (!res.headersSent) sendApiError(res, 500, 'INTERNAL_ERROR', 'internal error');
      else res.destroy();
    });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      sendApiError(res, 400, 'BAD_REQUEST', 'bad URL');
      return;
    }
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const read = method === 'GET' || method === 'HEAD';

    if (path === '/health') {
      if (!read) return methodNotAllowed(res, 'GET, HEAD');
      return sendJson(res, 200, { status: 'ok' }, req);
    }
    if (path === '/ready') {
      if (!read) return methodNotAllowed(res, 'GET, HEAD');
      const s = this.state;
      if (this.shuttingDown) return sendJson(res, 503, { status: 'shutting_down' }, req);
      if (s.kind === 'ready' && s.service.scheduler.liveLanes === 0) return sendJson(res, 503, { status: 'no_inference_worker' }, req);
      if (s.kind === 'ready') return sendJson(res, 200, { status: 'ready', model: s.service.finalEngine.name, realtime_model: s.service.partialEngine.name }, req);
      if (s.kind === 'failed') return sendJson(res, 503, { status: 'failed', error: s.error.message }, req);
      return sendJson(res, 503, { status: 'loading' }, req);
    }
    if (path === '/metrics') {
      if (!read) return methodNotAllowed(res, 'GET, HEAD');
      if (!this.authorized(req, url, res)) return;
      const body = this.metrics.render();
      res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    if (path.startsWith('/v1/')) {
      if (!originAllowed(req, this.config.allowedOrigins, !this.loopbackOnly())) {
        sendApiError(res, 403, 'FORBIDDEN_ORIGIN', `origin ${req.headers.origin} is not allowed; add it to EARSHOT_ALLOWED_ORIGINS`);
        return;
      }
      if (!this.authorized(req, url, res)) return;
      if (path === '/v1/audio/transcriptions') {
        if (method !== 'POST') return methodNotAllowed(res, 'POST');
        if (this.shuttingDown) {
          sendApiError(res, 503, 'SHUTTING_DOWN', 'the server is shutting down', { Connection: 'close' });
          return;
        }
        const job = handleTranscription(req, res, this.transcriptionHost());
        this.httpJobs.add(job);
        try {
          await job;
        } finally {
          this.httpJobs.delete(job);
        }
        return;
      }
      if (path === '/v1/models') {
        if (!read) return methodNotAllowed(res, 'GET, HEAD');
        const names = this.state.kind === 'ready' ? [this.state.service.finalEngine.name] : [this.config.model];
        return sendJson(res, 200, { object: 'list', data: names.map((id) => ({ id, object: 'model', owned_by: 'earshot' })) }, req);
      }
      sendApiError(res, 404, 'NOT_FOUND', `no route ${path}`);
      return;
    }
    if (path === WS_PATH) {
      sendApiError(res, 426, 'UPGRADE_REQUIRED', `${WS_PATH} is a WebSocket endpoint`, { Upgrade: 'websocket' });
      return;
    }
    if (!read) return methodNotAllowed(res, 'GET, HEAD');
    if (await serveStatic(req, res, path, this.config.webRoot)) return;
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('not found\n');
  }

  /** Token check for API routes (a no-op without a configured token); answers 401 itself. */
  private authorized(req: IncomingMessage, url: URL, res: ServerResponse): boolean {
    if (!this.config.token || tokenMatches(this.config.token, requestToken(req, url))) return true;
    sendApiError(res, 401, 'UNAUTHORIZED', 'missing or wrong token: send "Authorization: Bearer TOKEN" or ?token=TOKEN', { 'WWW-Authenticate': 'Bearer' });
    return false;
  }

  private loopbackOnly(): boolean {
    const h = this.config.host;
    return h === '127.0.0.1' || h === 'localhost' || h === '::1' || h.startsWith('127.');
  }

  // ---- WebSocket ----------------------------------------------------------------------------------------------

  /** Checks path, Origin and token before accepting: a refused client never gets to send audio. */
  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://localhost');
      } catch {
        return refuse(socket, 400, 'Bad Request');
      }
      const reason = (r: string) => this.metrics.refusedUpgrades.inc({ reason: r });
      if (url.pathname !== WS_PATH) {
        reason('not_found');
        return refuse(socket, 404, 'Not Found');
      }
      if (this.shuttingDown) {
        reason('shutting_down');
        return refuse(socket, 503, 'Service Unavailable');
      }
      if (!originAllowed(req, this.config.allowedOrigins, !this.loopbackOnly())) {
        reason('origin');
        this.log.warn(`refused WebSocket from origin ${req.headers.origin}`);
        return refuse(socket, 403, 'Forbidden', `origin not allowed; add it to EARSHOT_ALLOWED_ORIGINS`);
      }
      if (this.config.token && !tokenMatches(this.config.token, requestToken(req, url))) {
        reason('token');
        return refuse(socket, 401, 'Unauthorized', 'missing or wrong token (?token= or Authorization: Bearer)');
      }
      if (this.connections.size >= Math.max(64, this.config.maxSessions * 4)) {
        reason('connections');
        return refuse(socket, 503, 'Service Unavailable', 'too many connections');
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
    } catch (e) {
      this.log.error(`upgrade failed: ${(e as Error).stack ?? e}`);
      socket.destroy();
    }
  }

  private onConnection(ws: WebSocket): void {
    const session = new Session(ws, this.sessionHost());
    let markClosed!: () => void;
    const conn: Connection = { ws, session, alive: true, closed: new Promise((r) => (markClosed = r)) };
    this.connections.add(conn);
    this.metrics.connections.inc();
    ws.on('pong', () => {
      conn.alive = true;
    });
    ws.on('message', (data, isBinary) => session.handleMessage(data, isBinary));
    ws.on('error', (e) => this.log.warn(`session ${session.id}: ${e.message}`));
    ws.on('close', () => {
      this.connections.delete(conn);
      session.handleClose();
      markClosed();
    });
  }

  /** Dead peer detection: a connection that did not answer the previous ping is dropped. */
  private beat(): void {
    for (const c of this.connections) {
      if (!c.alive) {
        this.log.info(`session ${c.session.id}: no pong; dropping the connection`);
        c.ws.terminate();
        continue;
      }
      c.alive = false;
      try {
        c.ws.ping();
      } catch {
        c.ws.terminate();
      }
    }
  }

  // ---- shared with sessions -----------------------------------------------------------------------------------

  private acquireSlot = (): boolean => {
    if (this.activeSessions >= this.config.maxSessions) return false;
    this.activeSessions++;
    return true;
  };

  private releaseSlot = (): void => {
    this.activeSessions = Math.max(0, this.activeSessions - 1);
  };

  private sessionHost(): SessionHost {
    const server = this;
    return {
      service: () => this.servicePromise,
      acquireSlot: this.acquireSlot,
      releaseSlot: this.releaseSlot,
      get shuttingDown() {
        return server.shuttingDown;
      },
      metrics: this.metrics,
      log: this.log,
      sendSoftLimitBytes: this.config.sendSoftLimitBytes,
      sendHardLimitBytes: this.config.sendHardLimitBytes,
      recorderConfig: this.options.recorderConfig,
      chat: this.config.chat,
    };
  }

  private transcriptionHost(): TranscriptionHost {
    return {
      readyService: () => (this.state.kind === 'ready' ? this.state.service : undefined),
      acquireSlot: this.acquireSlot,
      releaseSlot: this.releaseSlot,
      maxUploadBytes: this.config.maxUploadBytes,
      metrics: this.metrics,
      log: this.log,
      recorderConfig: this.options.recorderConfig,
    };
  }

  /** Chains the metrics hook onto the scheduler (several servers may share one service in tests). */
  private hookScheduler(service: TranscriptionService): void {
    const scheduler = service.scheduler;
    const previous = scheduler.onJobDone;
    const hook = (kind: 'final' | 'partial', t: Transcript, latencyMs: number) => {
      previous?.(kind, t, latencyMs);
      this.metrics.inferenceDone(kind, t.processingMs, t.audioSeconds, latencyMs);
    };
    scheduler.onJobDone = hook;
    this.unhook = () => {
      if (scheduler.onJobDone === hook) scheduler.onJobDone = previous;
    };
  }
}

function refuse(socket: Duplex, status: number, text: string, body = text): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const response = `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  socket.end(response, () => socket.destroy());
  setTimeout(() => socket.destroy(), 1000).unref();
}

function sendJson(res: ServerResponse, status: number, value: unknown, req?: IncomingMessage): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(req?.method === 'HEAD' ? undefined : body);
}

function methodNotAllowed(res: ServerResponse, allow: string): void {
  sendApiError(res, 405, 'METHOD_NOT_ALLOWED', `method not allowed; use ${allow}`, { Allow: allow });
}

function delay(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
