import type { RecorderConfig } from '../recorder/recorder-config.ts';
import type { Admission } from './admission.ts';
import type { ServerConfig } from './config.ts';
import type { ConnectionRegistry } from './connection-registry.ts';
import type { Logger } from './logger.ts';
import type { ServerMetrics } from './metrics.ts';
import type { TranscriptionHost } from './protocols/upload-job.ts';
import type { ServiceState } from './service-state.ts';
import type { SessionSlots } from './session-slots.ts';
import type { SessionHost } from './transcription-session.ts';
import type { UploadQueue } from './upload-queue.ts';

/** What the route modules share of the server. */
export interface ServerContext {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly metrics: ServerMetrics;
  readonly admission: Admission;
  readonly slots: SessionSlots;
  readonly connections: ConnectionRegistry;
  readonly service: ServiceState;
  readonly uploads: UploadQueue;
  /** Running HTTP transcriptions, awaited at shutdown. */
  readonly httpJobs: Set<Promise<void>>;
  /** True from drain() (or close()) on. */
  readonly draining: boolean;
  readonly recorderConfig?: Partial<RecorderConfig>;
}

/** What a live session of `address` is given: the models, its slot, timeouts and send limits. */
export function sessionHost(ctx: ServerContext, address: string): SessionHost {
  const { config } = ctx;
  return {
    service: () => ctx.service.whenReady(),
    acquireSlot: () => ctx.slots.acquire(address),
    releaseSlot: () => ctx.slots.release(address),
    startTimeoutMs: config.startTimeoutMs,
    audioIdleTimeoutMs: config.audioIdleTimeoutMs,
    get shuttingDown() {
      return ctx.draining;
    },
    metrics: ctx.metrics,
    log: ctx.log,
    sendSoftLimitBytes: config.sendSoftLimitBytes,
    sendHardLimitBytes: config.sendHardLimitBytes,
    recorderConfig: ctx.recorderConfig,
    keyterms: config.keyterms,
  };
}

/** What an upload of `address` is given: the loaded models, its slot, the upload queue and limits. */
export function transcriptionHost(ctx: ServerContext, address: string): TranscriptionHost {
  return {
    readyService: () => ctx.service.current,
    acquireSlot: () => ctx.slots.acquire(address),
    releaseSlot: () => ctx.slots.release(address),
    queue: ctx.uploads,
    maxUploadBytes: ctx.config.maxUploadBytes,
    metrics: ctx.metrics,
    log: ctx.log,
    recorderConfig: ctx.recorderConfig,
    keyterms: ctx.config.keyterms,
    allowUrlSources: ctx.config.allowUrlSources,
  };
}
