import { Worker } from 'node:worker_threads';
import { abortError, type AsrEngine, type TranscribeOptions, type Transcript } from './engine.ts';
import type { WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.ts';

export interface ModelLocation {
  name: string;
  dir: string;
}

export interface EnginePoolOptions {
  /** One entry per worker thread: the models it holds. Jobs on different workers run in parallel. */
  workers: ModelLocation[][];
  /** onnxruntime intra-op threads per worker. */
  threads: number;
}

interface Job {
  id: number;
  model: string;
  samples: Float32Array;
  signal?: AbortSignal;
  resolve(t: Transcript): void;
  reject(e: Error): void;
}

interface Slot {
  worker: Worker;
  models: ModelLocation[];
  job?: Job;
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
 * ASR engines running in worker threads: one job per worker at a time, the rest wait in FIFO order for a worker
 * holding their model. A worker that dies fails its job and is replaced, so one bad input cannot take
 * transcription down.
 */
export class EnginePool {
  private readonly slots: Slot[] = [];
  private readonly waiting: Job[] = [];
  private nextId = 1;
  private closed = false;

  private constructor(private readonly options: EnginePoolOptions) {}

  static async start(options: EnginePoolOptions): Promise<EnginePool> {
    const pool = new EnginePool(options);
    // Wait for every worker to settle, so that none is still starting (and left running) when one fails.
    const started = await Promise.allSettled(options.workers.map((models) => pool.spawn(models)));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await pool.dispose();
      throw failed.reason;
    }
    return pool;
  }

  /** An AsrEngine whose transcribe() runs `name` on the pool. */
  engine(name: string, maxAudioSeconds = 30): AsrEngine {
    if (!this.options.workers.some((models) => models.some((m) => m.name === name))) throw new Error(`model ${name} is not in the pool`);
    return {
      name,
      maxAudioSeconds,
      transcribe: (samples, options) => this.submit(name, samples, options),
      dispose: async () => {},
    };
  }

  /** Stops every worker: asked to exit between decoder steps; terminated only if one does not within 5 s. */
  async dispose(): Promise<void> {
    this.closed = true;
    for (const job of this.waiting.splice(0)) job.reject(new Error('engine pool closed'));
    await Promise.all(
      this.slots.splice(0).map(
        (s) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(() => void s.worker.terminate(), 5000);
            s.worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            s.worker.postMessage({ type: 'exit' } satisfies WorkerRequest);
          }),
      ),
    );
  }

  private submit(model: string, samples: Float32Array, { signal }: TranscribeOptions = {}): Promise<Transcript> {
    if (this.closed) return Promise.reject(new Error('engine pool closed'));
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      const job: Job = { id: this.nextId++, model, samples, signal, resolve, reject };
      signal?.addEventListener('abort', () => this.cancel(job), { once: true });
      this.waiting.push(job);
      this.dispatch();
    });
  }

  private cancel(job: Job): void {
    const queued = this.waiting.indexOf(job);
    if (queued >= 0) {
      this.waiting.splice(queued, 1);
      job.reject(abortError());
      return;
    }
    const slot = this.slots.find((s) => s.job === job);
    slot?.worker.postMessage({ type: 'cancel', id: job.id } satisfies WorkerRequest);
  }

  private dispatch(): void {
    for (let i = 0; i < this.waiting.length; i++) {
      const job = this.waiting[i]!;
      const slot = this.slots.find((s) => !s.job && s.models.some((m) => m.name === job.model));
      if (!slot) continue;
      this.waiting.splice(i--, 1);
      slot.job = job;
      slot.worker.postMessage({ type: 'transcribe', id: job.id, model: job.model, samples: job.samples } satisfies WorkerRequest);
    }
  }

  private spawn(models: ModelLocation[]): Promise<void> {
    const workerData: WorkerData = { models, threads: this.options.threads };
    // Each decoder step hands back fresh tensors; with V8's default the young generation grows to 32 MB at that rate
    // and dead output buffers wait for it (measured: 54 MB heap and 30 MB of dead buffers in the tiny worker under 12
    // sessions). A small one collects them as they go, at no measurable cost in decode speed.
    const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData, resourceLimits: { maxYoungGenerationSizeMb: 4 } });
    const slot: Slot = { worker, models };
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (reply: WorkerReply) => {
        if (reply.type === 'ready') {
          ready = true;
          this.slots.push(slot);
          resolve();
          this.dispatch();
        } else if (reply.type === 'load-error') {
          reject(new Error(reply.message));
          void worker.terminate();
        } else if (slot.job?.id === reply.id) {
          const job = slot.job;
          slot.job = undefined;
          if (reply.type === 'result') job.resolve(reply.transcript);
          else job.reject(Object.assign(new Error(reply.message), { name: reply.name }));
          this.dispatch();
        }
      });
      worker.on('error', (e) => {
        if (!ready) reject(e);
      });
      worker.on('exit', () => {
        const index = this.slots.indexOf(slot);
        if (index < 0) return; // never became ready, or removed by dispose()
        this.slots.splice(index, 1);
        slot.job?.reject(new Error('inference worker stopped unexpectedly'));
        if (!this.closed) this.spawn(models).catch(() => {});
      });
    });
  }
}
