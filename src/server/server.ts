import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Transcript } from '../asr/engine.ts';
import type { RecorderConfig } from '../recorder/recorder-config.ts';
import type { TranscriptionService } from '../recorder/transcription-service.ts';
import { DEFAULT_SERVER_CONFIG, type ServerConfig } from './config.ts';
import { silentLogger, type Logger } from './logger.ts';
import { PROMETHEUS_CONTENT_TYPE, ServerMetrics } from './metrics.ts';
import { MAX_AUDIO_FRAME_BYTES, SUBPROTOCOL } from './protocol.ts';
import { DeepgramLiveSession, parseDeepgramQuery, type DeepgramOptions } from './protocols/deepgram-live.ts';
import { OPENAI_MAX_TEXT_BYTES, OpenAIRealtimeSession } from './protocols/openai-realtime.ts';
import { WyomingSession } from './protocols/wyoming.ts';
import { readProxyHeader } from './proxy-protocol.ts';
import { originAllowed, requestToken, signedTokenValid, STREAM_SCOPE, tokenMatches } from './security.ts';
import { SeedWebSocketSession } from './protocols/seed-websocket.ts';
import type { ProtocolConnection } from './protocols/websocket-adapter.ts';
import type { SessionHost, SlotRefusal } from './transcription-session.ts';
import { ClientLimits, clientAddress, normalizeAddress } from './client-limits.ts';
import { ConnectionAdmission } from './connection-admission.ts';
import { serveStatic } from './static-files.ts';
import { handleTranscription, sendApiError, type TranscriptionHost } from './protocols/openai-transcriptions.ts';
import { UploadQueue } from './upload-queue.ts';

export const WS_PATH = '/ws/stream';
export const OPENAI_REALTIME_PATH = '/v1/realtime';
export const DEEPGRAM_LISTEN_PATH = '/v1/listen';
/**
 * ws closes the connection (1009) for frames over this; frames between MAX_AUDIO_FRAME_BYTES and this are read and
 * answered with AUDIO_FRAME_TOO_LARGE, and the connection stays usable.
 */
const WS_MAX_PAYLOAD = 2 * MAX_AUDIO_FRAME_BYTES;
/** A balancer writes its PROXY header at once; a trusted peer silent for this long is closed. */
const PROXY_HEADER_TIMEOUT_MS = 5000;

export interface EarshotServerOptions {
  /** Missing keys take DEFAULT_SERVER_CONFIG's values. */
  config?: Partial<ServerConfig>;
  /** The shared models, or their loading promise; may also be given later with useService(). */
  service?: TranscriptionService | Promise<TranscriptionService>;
  log?: Logger;
  /** Recorder settings for every session (tests; the CLI uses the defaults). */
  recorderConfig?: Partial<RecorderConfig>;
}

/** A WebSocket route: its own frame limit, and the adapter that speaks its protocol. */
interface WebSocketRoute {
  wss: WebSocketServer;
  /** Why the handshake is refused (400) before any audio, e.g. a bad query. */
  refuse?(url: URL): string | undefined;
  open(ws: WebSocket, req: IncomingMessage, url: URL, host: SessionHost): ProtocolConnection;
}

/** Subprotocols a browser may offer, one of which the server must select: OpenAI's, Deepgram's and our own. */
const SELECTABLE_SUBPROTOCOLS = ['realtime', 'token', SUBPROTOCOL];

interface Connection {
  /** WebSocket connections get heartbeat pings; Wyoming's TCP ones do not. */
  ws?: WebSocket;
  terminate(): void;
  session: ProtocolConnection;
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
  private readonly http: http.Server | https.Server;
  private readonly wsRoutes: Map<string, WebSocketRoute>;
  private readonly connections = new Set<Connection>();
  private readonly clients: ClientLimits;
  private readonly admission: ConnectionAdmission;
  private readonly trustedProxies: ReadonlySet<string>;
  private readonly httpJobs = new Set<Promise<void>>();
  private readonly uploads: UploadQueue;
  private activeSessions = 0;
  private state: ServiceState = { kind: 'loading' };
  private readonly servicePromise: Promise<TranscriptionService>;
  private resolveService!: (s: TranscriptionService) => void;
  private rejectService!: (e: Error) => void;
  private serviceGiven = false;
  private heartbeat?: NodeJS.Timeout;
  /** Wyoming's TCP listener, when config.wyomingPort is set. */
  private wyoming?: net.Server;
  private closing?: Promise<void>;
  private draining?: Promise<void>;
  private unhook?: () => void;

  constructor(private readonly options: EarshotServerOptions = {}) {
    this.config = { ...DEFAULT_SERVER_CONFIG, ...stripUndefined(options.config ?? {}) };
    this.log = options.log ?? silentLogger;
    this.clients = new ClientLimits(this.config);
    this.trustedProxies = new Set(this.config.trustedProxies);
    this.uploads = new UploadQueue(this.config.uploadConcurrency, this.config.uploadQueue);
    this.metrics = new ServerMetrics({
      sessions: () => this.activeSessions,
      connections: () => this.connections.size,
      maxConnections: () => this.config.maxConnections,
      queueDepth: () => (this.state.kind === 'ready' ? this.state.service.scheduler.queueDepth : 0),
      schedulerStats: () => (this.state.kind === 'ready' ? { ...this.state.service.scheduler.stats } : undefined),
      maxSessions: () => this.config.maxSessions,
      draining: () => this.isDraining,
      refusedConnections: () => this.admission.refusals,
      vadStats: () => (this.state.kind === 'ready' ? this.state.service.silero.stats : undefined),
    });
    this.servicePromise = new Promise((resolve, reject) => {
      this.resolveService = resolve;
      this.rejectService = reject;
    });
    this.servicePromise.catch(() => {});
    const onRequest = (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res);
    const tls = this.config.tls;
    this.http = tls ? https.createServer({ cert: tls.cert, key: tls.key }, onRequest) : http.createServer(onRequest);
    // Per peer address on accept, before any HTTP is parsed: a flood of handshakes from one address is refused for
    // the cost of an accept, while the header-level limits below (per client, X-Forwarded-For aware) stay.
    this.admission = new ConnectionAdmission({
      maxSockets: this.config.maxSocketsPerClient ?? 2 * this.config.maxConnectionsPerClient,
      connectRate: this.config.connectRatePerClient ?? this.config.maxConnectionsPerClient,
      exempt: this.trustedProxies,
      answer: !tls,
      // A balancer or proxy not named as trusted looks like one client holding everyone's connections.
      onRefusal: (address, reason) =>
        this.log.warn({ address, reason }, `refusing connections from ${address} (${reason}); if it is a balancer or proxy, name it in EARSHOT_TRUSTED_PROXIES`),
    });
    this.admission.guard(this.http);
    this.http.on('upgrade', (req, socket, head) => this.onUpgrade(req, socket, head));
    this.http.on('clientError', (_e, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    const wss = (maxPayload: number) =>
      new WebSocketServer({
        noServer: true,
        maxPayload,
        perMessageDeflate: false,
        clientTracking: false,
        handleProtocols: (offered) => SELECTABLE_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
      });
    this.wsRoutes = new Map<string, WebSocketRoute>([
      [WS_PATH, { wss: wss(WS_MAX_PAYLOAD), open: (ws, _req, _url, host) => new SeedWebSocketSession(ws, host, this.config.chat) }],
      [
        OPENAI_REALTIME_PATH,
        {
          wss: wss(OPENAI_MAX_TEXT_BYTES),
          open: (ws, req, _url, host) =>
            // Beta-era clients say so with a header (or the subprotocol `openai-beta.realtime-v1`): answer with the beta names.
            new OpenAIRealtimeSession(ws, host, { beta: /realtime=v1/.test(String(req.headers['openai-beta'] ?? '')) || /openai-beta\.realtime-v1/.test(String(req.headers['sec-websocket-protocol'] ?? '')) }),
        },
      ],
      [
        DEEPGRAM_LISTEN_PATH,
        {
          wss: wss(WS_MAX_PAYLOAD),
          refuse: (url) => {
            const o = parseDeepgramQuery(url.searchParams);
            return 'error' in o ? o.error : undefined;
          },
          open: (ws, _req, url, host) => new DeepgramLiveSession(ws, host, parseDeepgramQuery(url.searchParams) as DeepgramOptions),
        },
      ],
    ]);
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
        this.listenWyoming().then(() => resolve(this.http.address() as AddressInfo), reject);
      };
      this.http.once('error', onError);
      this.http.once('listening', onListening);
      this.http.listen(this.config.port, this.config.host);
    });
  }

  /** Wyoming on its own TCP port (same host), sharing sessions, limits and drain with the WebSocket protocols. */
  private listenWyoming(): Promise<void> {
    const port = this.config.wyomingPort;
    if (port === undefined) return Promise.resolve();
    const server = net.createServer((socket) => this.onWyomingConnection(socket));
    // The same per-address sockets and connect rate as the HTTP port (one table for both); a refusal is just a close.
    this.admission.guard(server, false);
    this.wyoming = server;
    return new Promise((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(`cannot listen for Wyoming on ${this.config.host}:${port}: ${e.code ?? e.message}`)));
      server.listen(port, this.config.host, () => resolve());
    });
  }

  /** The bound Wyoming address, when enabled. */
  get wyomingAddress(): AddressInfo | undefined {
    const a = this.wyoming?.address();
    return a && typeof a !== 'string' ? a : undefined;
  }

  private onWyomingConnection(socket: net.Socket): void {
    socket.on('error', () => {});
    const peer = normalizeAddress(socket.remoteAddress ?? 'unknown');
    if (!this.trustedProxies.has(peer)) {
      this.serveWyoming(socket, peer);
      return;
    }
    // A trusted balancer says whose connection it is in a PROXY header (HAProxy's send-proxy-v2); without one the
    // connection is the proxy host's own.
    void readProxyHeader(socket, PROXY_HEADER_TIMEOUT_MS).then((header) => {
      if (!header) {
        // Closed before it said anything (a TCP health check): nothing to count.
        if (!socket.destroyed) this.metrics.refusedUpgrades.inc({ reason: 'bad_proxy_header' });
        socket.destroy();
        return;
      }
      this.serveWyoming(socket, header.source ? normalizeAddress(header.source) : peer, header.rest);
    });
  }

  private serveWyoming(socket: net.Socket, address: string, head?: Buffer): void {
    if (socket.destroyed) return;
    if (this.isDraining || this.connections.size >= this.config.maxConnections) {
      this.metrics.refusedUpgrades.inc({ reason: this.isDraining ? 'draining' : 'connections' });
      socket.destroy();
      return;
    }
    if (!this.clients.tryConnect(address)) {
      this.metrics.refusedUpgrades.inc({ reason: 'client_connections' });
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const session = new WyomingSession(socket, this.sessionHost(address), () => (this.state.kind === 'ready' ? [this.state.service.finalEngine.name] : [this.config.model]));
    const link = this.track(session, address, this.log.child({ session: session.session.id }), () => socket.destroy());
    socket.on('data', (data) => link.receive(data, true));
    socket.on('close', link.closed);
    if (head?.length) link.receive(head, true);
  }

  /**
   * Registers a connection of any protocol (counted, drained, cut at shutdown); returns what its transport calls for
   * each frame (a throwing adapter answers INTERNAL_ERROR, the connection goes on) and once it has closed.
   */
  private track(session: ProtocolConnection, address: string, log: Logger, terminate: () => void, ws?: WebSocket) {
    let markClosed!: () => void;
    const conn: Connection = { ws, terminate, session, alive: true, closed: new Promise((r) => (markClosed = r)) };
    this.connections.add(conn);
    this.metrics.connections.inc();
    return {
      conn,
      receive(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
        try {
          session.handleMessage(data, isBinary);
        } catch (e) {
          log.error({ err: e }, 'failed handling a message');
          session.session.error('INTERNAL_ERROR', 'internal error handling the message');
        }
      },
      closed: (): void => {
        this.connections.delete(conn);
        this.clients.disconnect(address);
        session.handleClose();
        markClosed();
      },
    };
  }

  get address(): AddressInfo {
    const a = this.http.address();
    if (!a || typeof a === 'string') throw new Error('server is not listening');
    return a;
  }

  /** http(s)://host:port of the bound address. */
  get url(): string {
    const { address, port, family } = this.address;
    const host = family === 'IPv6' ? `[${address}]` : address;
    return `${this.config.tls ? 'https' : 'http'}://${host}:${port}`;
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

  /**
   * SIGTERM: /ready and new WebSocket handshakes answer 503 (a balancer sends them elsewhere), each session closes
   * with 1012 right after its next natural final (bounded by config.drainMs), then close() ends the rest.
   */
  drain(): Promise<void> {
    this.draining ??= this.drainSessions();
    return this.draining;
  }

  /** True from drain() (or close()) on. */
  get isDraining(): boolean {
    return this.draining !== undefined || this.closing !== undefined;
  }

  private async drainSessions(): Promise<void> {
    this.log.info(`draining ${this.connections.size} connections (at most ${this.config.drainMs} ms)`);
    for (const c of this.connections) c.session.drain(this.config.drainMs);
    const deadline = delay(this.config.drainMs + 1000);
    await Promise.race([Promise.all([...this.connections].map((c) => c.closed)), deadline.promise]);
    deadline.cancel();
    await this.close();
  }

  private async shutdown(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.wyoming?.close();
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
    for (const c of this.connections) c.terminate();
    this.http.closeAllConnections();
    const last = delay(500);
    await Promise.race([stopped, last.promise]);
    last.cancel();
    this.unhook?.();
  }

  // ---- HTTP ---------------------------------------------------------------------------------------------------

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const id = requestId(req);
    res.setHeader('X-Request-Id', id);
    this.route(req, res).catch((e: unknown) => {
      this.log.error({ req: id, method: req.method, url: req.url, err: e }, 'request failed');
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
      if (this.isDraining) return sendJson(res, 503, { status: 'draining' }, req);
      if (this.full) return sendJson(res, 503, { status: 'full', sessions: this.activeSessions }, req);
      if (s.kind === 'ready' && s.service.scheduler.liveLanes === 0) return sendJson(res, 503, { status: 'no_inference_worker' }, req);
      if (s.kind === 'ready') return sendJson(res, 200, { status: 'ready', model: s.service.finalEngine.name, realtime_model: s.service.partialEngine.name }, req);
      if (s.kind === 'failed') return sendJson(res, 503, { status: 'failed', error: s.error.message }, req);
      return sendJson(res, 503, { status: 'loading' }, req);
    }
    if (path === '/metrics') {
      if (!read) return methodNotAllowed(res, 'GET, HEAD');
      if (!this.authorized(req, url, res)) return;
      const body = await this.metrics.render();
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
        // From the start of a drain: an upload accepted now could be cut when the process exits.
        if (this.isDraining) {
          sendApiError(res, 503, 'SHUTTING_DOWN', 'the server is shutting down', { Connection: 'close' });
          return;
        }
        const job = handleTranscription(req, res, this.transcriptionHost(clientAddress(req, this.trustedProxies)));
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
    // The browser SDK (/sdk/earshot.js, its worklet and types) is loaded by other sites' pages as a module: CORS.
    const sdkHeaders = path.startsWith('/sdk/') ? { 'Access-Control-Allow-Origin': '*' } : undefined;
    if (await serveStatic(req, res, path, this.config.webRoot, sdkHeaders)) return;
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
      const route = this.wsRoutes.get(url.pathname);
      if (!route) {
        reason('not_found');
        return refuse(socket, 404, 'Not Found');
      }
      // 503 before stt_start, while a balancer can still send the handshake to another instance.
      if (this.isDraining) {
        reason('shutting_down');
        return refuse(socket, 503, 'Service Unavailable', 'draining');
      }
      if (this.full) {
        reason('full');
        return refuse(socket, 503, 'Service Unavailable', 'at --max-sessions');
      }
      if (!originAllowed(req, this.config.allowedOrigins, !this.loopbackOnly())) {
        reason('origin');
        this.log.warn(`refused WebSocket from origin ${req.headers.origin}`);
        return refuse(socket, 403, 'Forbidden', `origin not allowed; add it to EARSHOT_ALLOWED_ORIGINS`);
      }
      const token = this.config.token;
      const given = requestToken(req, url);
      if (token && !tokenMatches(token, given) && !(given && signedTokenValid(token, given, STREAM_SCOPE))) {
        reason('token');
        return refuse(socket, 401, 'Unauthorized', 'missing, wrong or expired token (Authorization: Bearer, ?token=, or subprotocol token.T)');
      }
      if (this.connections.size >= this.config.maxConnections) {
        reason('connections');
        return refuse(socket, 503, 'Service Unavailable', 'too many connections', { 'Retry-After': '5' });
      }
      const refusal = route.refuse?.(url);
      if (refusal) {
        reason('bad_request');
        return refuse(socket, 400, 'Bad Request', refusal);
      }
      const address = clientAddress(req, this.trustedProxies);
      if (!this.clients.tryConnect(address)) {
        reason('client_connections');
        return refuse(socket, 429, 'Too Many Requests', `too many connections from ${address} (at most ${this.config.maxConnectionsPerClient})`, { 'Retry-After': '5' });
      }
      let accepted = false;
      // The count is taken before the (asynchronous) handshake so that a burst cannot pass the cap; a handshake
      // that fails gives it back when the socket closes.
      socket.once('close', () => {
        if (!accepted) this.clients.disconnect(address);
      });
      route.wss.handleUpgrade(req, socket, head, (ws) => {
        accepted = true;
        this.onConnection(ws, route.open(ws, req, url!, this.sessionHost(address)), req, address);
      });
    } catch (e) {
      this.log.error({ err: e }, 'upgrade failed');
      socket.destroy();
    }
  }

  private onConnection(ws: WebSocket, session: ProtocolConnection, req: IncomingMessage, address: string): void {
    const log = this.log.child({ session: session.session.id });
    log.info({ req: requestId(req), path: req.url?.split('?')[0], remote: req.socket.remoteAddress, forwardedFor: req.headers['x-forwarded-for'], client: address }, 'connection opened');
    const link = this.track(session, address, log, () => ws.terminate(), ws);
    ws.on('pong', () => {
      link.conn.alive = true;
    });
    ws.on('message', link.receive);
    ws.on('error', (e) => log.warn(e.message));
    ws.on('close', (code) => {
      log.info({ code }, 'connection closed');
      link.closed();
    });
  }

  /** Dead peer detection: a connection that did not answer the previous ping is dropped. */
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

  // ---- shared with sessions -----------------------------------------------------------------------------------

  private get full(): boolean {
    return this.activeSessions >= this.config.maxSessions;
  }

  /** A session slot for a client: refused at the server's cap or at the client's own share. */
  private acquireSlot(address: string): SlotRefusal | undefined {
    if (this.full) return { code: 'OVERLOADED', message: 'the server is at its maximum number of sessions; try again later' };
    if (!this.clients.tryStartSession(address)) {
      return { code: 'CLIENT_LIMIT', message: `${address} already has ${this.config.maxSessionsPerClient} sessions (the most one client may hold); stop one first` };
    }
    this.activeSessions++;
    return undefined;
  }

  private releaseSlot(address: string): void {
    this.activeSessions = Math.max(0, this.activeSessions - 1);
    this.clients.endSession(address);
  }

  private sessionHost(address: string): SessionHost {
    const server = this;
    return {
      service: () => this.servicePromise,
      acquireSlot: () => this.acquireSlot(address),
      releaseSlot: () => this.releaseSlot(address),
      startTimeoutMs: this.config.startTimeoutMs,
      audioIdleTimeoutMs: this.config.audioIdleTimeoutMs,
      get shuttingDown() {
        return server.isDraining;
      },
      metrics: this.metrics,
      log: this.log,
      sendSoftLimitBytes: this.config.sendSoftLimitBytes,
      sendHardLimitBytes: this.config.sendHardLimitBytes,
      recorderConfig: this.options.recorderConfig,
    };
  }

  private transcriptionHost(address: string): TranscriptionHost {
    return {
      readyService: () => (this.state.kind === 'ready' ? this.state.service : undefined),
      acquireSlot: () => this.acquireSlot(address),
      releaseSlot: () => this.releaseSlot(address),
      queue: this.uploads,
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
      this.metrics.inferenceDone(kind, t, latencyMs);
    };
    scheduler.onJobDone = hook;
    this.unhook = () => {
      if (scheduler.onJobDone === hook) scheduler.onJobDone = previous;
    };
  }
}

/** The balancer's X-Request-Id when it sent a plausible one, else a new id. */
function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && /^[\w.:-]{1,128}$/.test(given) ? given : randomUUID();
}

function refuse(socket: Duplex, status: number, text: string, body = text, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const all = { ...(status === 503 ? { 'Retry-After': '1' } : {}), ...headers };
  const extra = Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const response = `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\n${extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
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
