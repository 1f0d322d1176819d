import { Worker } from 'node:worker_threads';
import { abortError, type AsrEngine, type DecodeOptions, type TranscribeOptions, type Transcript } from './engine.ts';
import type { ModelLocation, WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.ts';

export type { ModelLocation };

export interface EnginePoolOptions {
  /** One entry per worker thread: the models it holds. Jobs on different workers run in parallel. */
  workers: ModelLocation[][];
  /** onnxruntime intra-op threads per worker. */
  threads: number;
  /** Wait before another try when a replacement worker fails to load (e.g. out of memory). */
  respawnRetryMs?: number;
}

/** The job was on a worker that died (native crash, out of memory, killed); it may be retried on another. */
export class WorkerDiedError extends Error {
  readonly code = 'WORKER_DIED';
  constructor() {
    super('inference worker stopped unexpectedly');
  }
}

interface Job {
  id: number;
  model: string;
  samples: Float32Array;
  options: DecodeOptions;
  signal?: AbortSignal;
  resolve(t: Transcript): void;
  reject(e: Error): void;
}

interface Slot {
  models: ModelLocation[];
  worker?: Worker;
  /** Loaded and answering; false while a replacement loads. */
  live: boolean;
  job?: Job;
  /** Jobs sent to this worker while it is busy or being replaced (the scheduler never does; direct callers may). */
  waiting: Job[];
  /** What each of its engines reported when it loaded. */
  maxAudioSeconds: Record<string, number>;
}

/** One worker thread as the scheduler sees it: the models it holds, an engine per model, and whether it is up. */
export interface PoolWorker {
  readonly models: string[];
  /** Models it holds to cross-check one of `models` with; engine() runs them alone too. */
  readonly checkModels: string[];
  engine(name: string): AsrEngine;
  live(): boolean;
}

/**
 * The worker's entry beside this module: compiled JavaScript in production (dist/), TypeScript under tsx in tests and
 * benchmarks, where the worker registers tsx's loader first (execArgv's --import does not reach worker threads on
 * Node 20).
 */
const RUNNING_TYPESCRIPT = import.meta.url.endsWith('.ts');
const WORKER_ENTRY = new URL(RUNNING_TYPESCRIPT ? './engine-worker.ts' : './engine-worker.js', import.meta.url);
const WORKER_BOOTSTRAP = RUNNING_TYPESCRIPT
  ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then(({ register }) => { register(); return import(${JSON.stringify(WORKER_ENTRY.href)}); });`
  : `import(${JSON.stringify(WORKER_ENTRY.href)});`;

/**
 * ASR engines running in worker threads, one job per worker at a time. The scheduler picks the worker; the pool
 * only runs it there. A worker that dies fails its job with WorkerDiedError and is replaced, so one bad input or a
 * killed thread cannot take transcription down.
 */
export class EnginePool {
  private readonly slots: Slot[];
  private nextId = 1;
  private closed = false;
  /** Called when a worker dies or comes (back) up: the scheduler re-plans. */
  onChange?: () => void;

  private constructor(private readonly options: EnginePoolOptions) {
    this.slots = options.workers.map((models) => ({ models, live: false, waiting: [], maxAudioSeconds: {} }));
  }

  static async start(options: EnginePoolOptions): Promise<EnginePool> {
    const pool = new EnginePool(options);
    // Wait for every worker to settle, so that none is still starting (and left running) when one fails.
    const started = await Promise.allSettled(pool.slots.map((slot) => pool.spawn(slot)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await pool.dispose();
      throw failed.reason;
    }
    return pool;
  }

  /** The workers, in the order of options.workers. */
  get workers(): PoolWorker[] {
    return this.slots.map((slot) => ({
      models: slot.models.map((m) => m.name),
      checkModels: slot.models.flatMap((m) => (m.checkWith ? [m.checkWith.name] : [])),
      engine: (name: string) => this.engine(name, slot),
      live: () => slot.live,
    }));
  }

  /** Workers up now. */
  get liveWorkers(): number {
    return this.slots.filter((s) => s.live).length;
  }

  /**
   * An AsrEngine whose transcribe() runs `name` on the first worker holding it, or on `slot`, where it may also be
   * the model a final model is cross-checked with.
   */
  engine(name: string, slot = this.slots.find((s) => s.models.some((m) => m.name === name))): AsrEngine {
    if (!slot?.models.some((m) => m.name === name || m.checkWith?.name === name)) throw new Error(`model ${name} is not in the pool`);
    return {
      name,
      maxAudioSeconds: slot.maxAudioSeconds[name]!,
      transcribe: (samples, options) => this.submit(slot, name, samples, options),
      dispose: async () => {},
    };
  }

  /**
   * Test hook: the worker ends its thread at once, as a native crash or a kill would (between decoder steps: a thread
   * terminated inside a native run takes the process with it).
   */
  killWorker(index: number): void {
    this.slots[index]?.worker?.postMessage({ type: 'die' } satisfies WorkerRequest);
  }

  /** Stops every worker: asked to exit between decoder steps; terminated only if one does not within 5 s. */
  async dispose(): Promise<void> {
    this.closed = true;
    for (const slot of this.slots) for (const job of slot.waiting.splice(0)) job.reject(new Error('engine pool closed'));
    await Promise.all(this.slots.map((slot) => stopWorker(slot)));
  }

  private submit(slot: Slot, model: string, samples: Float32Array, { signal, ...options }: TranscribeOptions = {}): Promise<Transcript> {
    if (this.closed) return Promise.reject(new Error('engine pool closed'));
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, model, samples, options, signal, resolve, reject };
      signal?.addEventListener('abort', () => this.cancel(slot, job), { once: true });
      slot.waiting.push(job);
      this.dispatch(slot);
    });
  }

  private cancel(slot: Slot, job: Job): void {
    const queued = slot.waiting.indexOf(job);
    if (queued >= 0) {
      slot.waiting.splice(queued, 1);
      job.reject(abortError());
    } else if (slot.job === job) {
      slot.worker?.postMessage({ type: 'cancel', id: job.id } satisfies WorkerRequest);
    }
  }

  private dispatch(slot: Slot): void {
    if (!slot.live || slot.job || slot.waiting.length === 0) return;
    const job = slot.waiting.shift()!;
    slot.job = job;
    slot.worker!.postMessage({ type: 'transcribe', id: job.id, model: job.model, samples: job.samples, options: job.options } satisfies WorkerRequest);
  }

  private spawn(slot: Slot): Promise<void> {
    const workerData: WorkerData = { models: slot.models, threads: this.options.threads };
    // Each decoder step hands back fresh tensors; with V8's default the young generation grows to 32 MB at that rate
    // and dead output buffers wait for it. A small one collects them as they go, at no measurable cost in decode speed
    // (docs/decisions/0012-memory-settings.md).
    const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    slot.worker = worker;
    return new Promise((resolve, reject) => {
      worker.on('message', (reply: WorkerReply) => {
        if (reply.type === 'ready') {
          if (this.closed) return void stopWorker(slot).then(resolve);
          slot.maxAudioSeconds = reply.maxAudioSeconds;
          slot.live = true;
          resolve();
          this.dispatch(slot);
          this.onChange?.();
        } else if (reply.type === 'load-error') {
          reject(new Error(reply.message));
          void worker.terminate();
        } else if (slot.job?.id === reply.id) {
          const job = slot.job;
          slot.job = undefined;
          if (reply.type === 'result') job.resolve(reply.transcript);
          else job.reject(Object.assign(new Error(reply.message), { name: reply.name }));
          this.dispatch(slot);
        }
      });
      worker.on('error', reject);
      worker.on('exit', () => {
        if (slot.worker !== worker) return;
        slot.worker = undefined;
        const wasLive = slot.live;
        slot.live = false;
        slot.job?.reject(new WorkerDiedError());
        slot.job = undefined;
        reject(new WorkerDiedError()); // died while loading: the caller (start, or respawn's retry) hears of it
        if (this.closed || !wasLive) return;
        this.onChange?.();
        this.respawn(slot);
      });
    });
  }

  /** Replaces a dead worker; a replacement that fails to load is tried again after respawnRetryMs. */
  private respawn(slot: Slot): void {
    this.spawn(slot).catch(() => {
      if (!this.closed) setTimeout(() => this.respawn(slot), this.options.respawnRetryMs ?? 1000).unref();
    });
  }
}

function stopWorker(slot: Slot): Promise<void> {
  const worker = slot.worker;
  slot.live = false;
  slot.worker = undefined;
  if (!worker) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => void worker.terminate(), 5000);
    worker.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    worker.postMessage({ type: 'exit' } satisfies WorkerRequest);
  });
}
