import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Server as NetServer } from 'node:net';
import type { RecorderConfig } from '../recorder/recorder-config.ts';
import type { TranscriptionService } from '../pipeline/transcription-service.ts';
import { Admission } from './admission.ts';
import { DEFAULT_SERVER_CONFIG, type ServerConfig } from './config.ts';
import { ConnectionRegistry } from './connection-registry.ts';
import { closeConnections, delay, drainConnections } from './drain.ts';
import { Heartbeat } from './heartbeat.ts';
import { BAD_REQUEST_RESPONSE } from './http-errors.ts';
import { silentLogger, type Logger } from './logger.ts';
import { ServerMetrics } from './metrics.ts';
import { deepgramLiveRoute } from './routes/deepgram-live-route.ts';
import { httpRouter } from './routes/http-router.ts';
import { openaiRealtimeRoute } from './routes/openai-realtime-route.ts';
import { seedStreamRoute } from './routes/seed-stream-route.ts';
import { websocketUpgrade } from './routes/websocket-upgrade.ts';
import { listenWyoming } from './routes/wyoming-listener.ts';
import type { ServerContext } from './server-context.ts';
import { ServiceState } from './service-state.ts';
import { SessionSlots } from './session-slots.ts';
import { UploadQueue } from './upload-queue.ts';

export interface EarshotServerOptions {
  /** Missing keys take DEFAULT_SERVER_CONFIG's values. */
  config?: Partial<ServerConfig>;
  /** The shared models, or their loading promise; may also be given later with useService(). */
  service?: TranscriptionService | Promise<TranscriptionService>;
  log?: Logger;
  /** Recorder settings for every session, over config.recorder (the `earshot serve` flags). */
  recorderConfig?: Partial<RecorderConfig>;
}

/**
 * The Earshot server, assembled from its parts: the HTTP routes (routes/http-router.ts), the WebSocket protocol
 * families (routes/*-route.ts), Wyoming on its own port, one admission check, the session slots, heartbeat and drain.
 * Models are shared through one TranscriptionService.
 */
export class EarshotServer {
  readonly config: ServerConfig;
  readonly metrics: ServerMetrics;
  readonly log: Logger;
  private readonly http: http.Server | https.Server;
  private readonly ctx: ServerContext;
  private readonly service: ServiceState;
  private readonly connections: ConnectionRegistry;
  private readonly slots: SessionSlots;
  private readonly heartbeat: Heartbeat;
  private readonly httpJobs = new Set<Promise<void>>();
  /** Wyoming's TCP listener, when config.wyomingPort is set. */
  private wyoming?: NetServer;
  private closing?: Promise<void>;
  private draining?: Promise<void>;
  private unhook?: () => void;

  constructor(options: EarshotServerOptions = {}) {
    this.config = { ...DEFAULT_SERVER_CONFIG, ...stripUndefined(options.config ?? {}) };
    this.log = options.log ?? silentLogger;
    const server = this;
    const admission = new Admission(this.config, {
      get draining() {
        return server.isDraining;
      },
      get full() {
        return server.slots.full;
      },
      get connections() {
        return server.connections.size;
      },
    }, this.log);
    this.slots = new SessionSlots(this.config.maxSessions, this.config.maxSessionsPerClient, admission.clients);
    // The metrics hear of every inference job (several servers may share one service in tests).
    this.service = new ServiceState((s) => (this.unhook = s.scheduler.addListener(this.metrics)));
    const current = () => this.service.current;
    this.metrics = new ServerMetrics({
      sessions: () => this.slots.count,
      connections: () => this.connections.size,
      maxConnections: () => this.config.maxConnections,
      queueDepth: () => current()?.scheduler.queueDepth ?? 0,
      schedulerStats: () => {
        const s = current();
        return s ? { ...s.scheduler.stats } : undefined;
      },
      maxSessions: () => this.config.maxSessions,
      draining: () => this.isDraining,
      refusedConnections: () => admission.socketRefusals,
      vadStats: () => current()?.silero.stats,
    });
    this.connections = new ConnectionRegistry(this.metrics, (address) => admission.release(address));
    this.heartbeat = new Heartbeat(this.connections, this.log);
    this.ctx = {
      config: this.config,
      log: this.log,
      metrics: this.metrics,
      admission,
      slots: this.slots,
      connections: this.connections,
      service: this.service,
      uploads: new UploadQueue(this.config.uploadConcurrency, this.config.uploadQueue),
      httpJobs: this.httpJobs,
      get draining() {
        return server.isDraining;
      },
      recorderConfig: { ...this.config.recorder, ...options.recorderConfig },
    };
    const tls = this.config.tls;
    const onRequest = httpRouter(this.ctx);
    this.http = tls ? https.createServer({ cert: tls.cert, key: tls.key }, onRequest) : http.createServer(onRequest);
    // Per peer address on accept, before any HTTP is parsed: a flood of handshakes from one address is refused for
    // the cost of an accept, while the per-request checks (per client, X-Forwarded-For aware) stay.
    admission.guard(this.http);
    this.http.on('upgrade', websocketUpgrade(this.ctx, [seedStreamRoute(this.config.chat), openaiRealtimeRoute, deepgramLiveRoute]));
    this.http.on('clientError', (_e, socket) => {
      if (socket.writable) socket.end(BAD_REQUEST_RESPONSE);
      else socket.destroy();
    });
    if (options.service) this.useService(options.service);
  }

  /** Hands the server its models (or their loading promise); /ready turns 200 once they are loaded. */
  useService(service: TranscriptionService | Promise<TranscriptionService>): void {
    this.service.provide(service);
  }

  get ready(): boolean {
    return this.service.current !== undefined;
  }

  /** Resolves when the models are loaded; rejects when they failed to. */
  whenReady(): Promise<TranscriptionService> {
    return this.service.whenReady();
  }

  get sessions(): number {
    return this.slots.count;
  }

  /** Starts listening on config.host:config.port (port 0: any free port); resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    const { host, port, wyomingPort } = this.config;
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException) => {
        this.http.off('listening', onListening);
        if (e.code === 'EADDRINUSE') reject(new Error(`port ${port} on ${host} is already in use; pick another with --port`));
        else if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') reject(new Error(`cannot listen on host ${host}: ${e.code}`));
        else if (e.code === 'EACCES') reject(new Error(`no permission to listen on port ${port}; use a port above 1023`));
        else reject(e);
      };
      const onListening = () => {
        this.http.off('error', onError);
        this.heartbeat.start(this.config.heartbeatMs);
        if (wyomingPort === undefined) return resolve(this.address);
        listenWyoming(this.ctx, wyomingPort).then((server) => {
          this.wyoming = server;
          resolve(this.address);
        }, reject);
      };
      this.http.once('error', onError);
      this.http.once('listening', onListening);
      this.http.listen(port, host);
    });
  }

  /** The bound Wyoming address, when enabled. */
  get wyomingAddress(): AddressInfo | undefined {
    const a = this.wyoming?.address();
    return a && typeof a !== 'string' ? a : undefined;
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
    this.draining ??= drainConnections(this.connections, this.config.drainMs, this.log).then(() => this.close());
    return this.draining;
  }

  /** True from drain() (or close()) on. */
  get isDraining(): boolean {
    return this.draining !== undefined || this.closing !== undefined;
  }

  private async shutdown(): Promise<void> {
    this.heartbeat.stop();
    this.wyoming?.close();
    const stopped = new Promise<void>((resolve) => {
      if (!this.http.listening) resolve();
      else this.http.close(() => resolve());
    });
    this.http.closeIdleConnections();
    await closeConnections(this.connections, this.httpJobs, this.config.shutdownMs, this.log);
    this.http.closeAllConnections();
    const last = delay(500);
    await Promise.race([stopped, last.promise]);
    last.cancel();
    this.unhook?.();
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
