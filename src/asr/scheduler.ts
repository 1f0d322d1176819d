import os from 'node:os';
import { abortError, type AsrEngine, type Transcript } from './engine.ts';

export interface SchedulerOptions {
  /** Model for finals. */
  finalEngine: AsrEngine;
  /** Model for realtime partials (may be the same engine). */
  partialEngine: AsrEngine;
  /** Jobs running at once across the whole server; default: CPU cores. */
  parallelism?: number;
  /**
   * Jobs each engine can run at once (the workers holding its model); default: parallelism. Without these, finals
   * waiting for the one worker holding the final model would take every slot and idle the others.
   */
  finalParallelism?: number;
  partialParallelism?: number;
  /** A job still running after this long is abandoned with a ProcessingTimeoutError. */
  timeoutMs?: number;
  /** A partial that waited in the queue longer than this is dropped: its audio is already superseded. */
  partialMaxWaitMs?: number;
}

export class ProcessingTimeoutError extends Error {
  readonly code = 'PROCESSING_TIMEOUT';
  constructor(ms: number) {
    super(`inference did not finish within ${ms} ms`);
  }
}

type Lane = 'final' | 'partial';

interface Job {
  kind: 'final' | 'partial';
  sessionId: string;
  samples: Float32Array;
  queuedAt: number;
  signal?: AbortSignal;
  resolve(t: Transcript | null): void;
  reject(e: unknown): void;
}

export interface SchedulerStats {
  queuedFinals: number;
  queuedPartials: number;
  running: number;
  finalsDone: number;
  partialsDone: number;
  partialsDropped: number;
  timeouts: number;
}

/** One session's handle on the shared scheduler: what the recorder calls. */
export interface SessionTranscriber {
  final(samples: Float32Array, signal?: AbortSignal): Promise<Transcript>;
  /** Resolves null when the job was superseded by a newer partial of the same session or dropped under load. */
  partial(samples: Float32Array): Promise<Transcript | null>;
  /** Drops this session's queued jobs and aborts its running ones (partials resolve null, finals reject). */
  cancel(): void;
}

/**
 * The one inference queue of a server: finals before partials, at most one queued partial per session (a newer one
 * replaces it), bounded parallelism. Under overload partials thin out; finals are never dropped.
 */
export class InferenceScheduler {
  private readonly finals: Job[] = [];
  private readonly partials = new Map<string, Job>();
  private readonly running = new Map<Job, AbortController>();
  /** Jobs running on each engine ("lane"): the final engine, and the partial engine. */
  private readonly runningByLane = { final: 0, partial: 0 };
  private readonly parallelism: number;
  private readonly laneParallelism: Record<Lane, number>;
  private readonly timeoutMs: number;
  private readonly partialMaxWaitMs: number;
  readonly stats: SchedulerStats = { queuedFinals: 0, queuedPartials: 0, running: 0, finalsDone: 0, partialsDone: 0, partialsDropped: 0, timeouts: 0 };
  /** Called after every finished job with its kind, engine time and audio length (metrics hook). */
  onJobDone?: (kind: 'final' | 'partial', transcript: Transcript) => void;

  constructor(private readonly options: SchedulerOptions) {
    this.parallelism = Math.max(1, options.parallelism ?? os.availableParallelism());
    this.laneParallelism = {
      final: Math.max(1, Math.min(this.parallelism, options.finalParallelism ?? this.parallelism)),
      partial: Math.max(1, Math.min(this.parallelism, options.partialParallelism ?? this.parallelism)),
    };
    this.timeoutMs = options.timeoutMs ?? 30000;
    this.partialMaxWaitMs = options.partialMaxWaitMs ?? 1500;
  }

  forSession(sessionId: string): SessionTranscriber {
    return {
      final: (samples, signal) => this.submit('final', sessionId, samples, signal) as Promise<Transcript>,
      partial: (samples) => this.submit('partial', sessionId, samples),
      cancel: () => this.cancelSession(sessionId),
    };
  }

  get queueDepth(): number {
    return this.finals.length + this.partials.size;
  }

  private submit(kind: Job['kind'], sessionId: string, samples: Float32Array, signal?: AbortSignal): Promise<Transcript | null> {
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      const job: Job = { kind, sessionId, samples, signal, queuedAt: performance.now(), resolve, reject };
      if (kind === 'final') {
        this.finals.push(job);
        signal?.addEventListener('abort', () => this.abortJob(job), { once: true });
      } else {
        this.dropPartial(this.partials.get(sessionId));
        this.partials.set(sessionId, job);
      }
      this.pump();
    });
  }

  private abortJob(job: Job): void {
    const queued = this.finals.indexOf(job);
    if (queued >= 0) {
      this.finals.splice(queued, 1);
      job.reject(abortError());
      this.updateQueueStats();
    }
    this.running.get(job)?.abort();
  }

  private dropPartial(job: Job | undefined): void {
    if (!job) return;
    this.partials.delete(job.sessionId);
    this.stats.partialsDropped++;
    job.resolve(null);
  }

  private cancelSession(sessionId: string): void {
    this.dropPartial(this.partials.get(sessionId));
    for (const job of this.finals.filter((j) => j.sessionId === sessionId)) this.abortJob(job);
    for (const [job, controller] of this.running) if (job.sessionId === sessionId) controller.abort();
    this.updateQueueStats();
  }

  private laneFree(lane: Lane): boolean {
    return this.runningByLane[lane] < this.laneParallelism[lane];
  }

  /**
   * Finals take the final engine; when it is busy they overflow onto the partial engine (a smaller model rather
   * than a longer wait), ahead of any partial: under overload partials thin out first and finals keep flowing.
   */
  private next(): [Job, Lane] | undefined {
    if (this.finals.length > 0) {
      if (this.laneFree('final')) return [this.finals.shift()!, 'final'];
      if (this.options.partialEngine !== this.options.finalEngine && this.laneFree('partial')) return [this.finals.shift()!, 'partial'];
    }
    if (!this.laneFree('partial')) return undefined;
    const now = performance.now();
    // Oldest partial first, so no session starves; stale ones are dropped on the way.
    let oldest: Job | undefined;
    for (const job of this.partials.values()) {
      if (now - job.queuedAt > this.partialMaxWaitMs) this.dropPartial(job);
      else if (!oldest || job.queuedAt < oldest.queuedAt) oldest = job;
    }
    if (!oldest) return undefined;
    this.partials.delete(oldest.sessionId);
    return [oldest, 'partial'];
  }

  private pump(): void {
    while (this.running.size < this.parallelism) {
      const next = this.next();
      if (!next) break;
      void this.run(...next);
    }
    this.updateQueueStats();
  }

  private async run(job: Job, lane: Lane): Promise<void> {
    const controller = new AbortController();
    this.running.set(job, controller);
    this.runningByLane[lane]++;
    const engine = lane === 'final' ? this.options.finalEngine : this.options.partialEngine;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.stats.timeouts++;
        controller.abort();
        reject(new ProcessingTimeoutError(this.timeoutMs));
      }, this.timeoutMs);
    });
    try {
      const transcript = await Promise.race([engine.transcribe(job.samples, { signal: controller.signal }), timeout]);
      if (job.kind === 'final') this.stats.finalsDone++;
      else this.stats.partialsDone++;
      this.onJobDone?.(job.kind, transcript);
      job.resolve(transcript);
    } catch (e) {
      if (job.kind === 'partial') job.resolve(null);
      else job.reject(e);
    } finally {
      clearTimeout(timer);
      this.running.delete(job);
      this.runningByLane[lane]--;
      this.pump();
    }
  }

  private updateQueueStats(): void {
    this.stats.queuedFinals = this.finals.length;
    this.stats.queuedPartials = this.partials.size;
    this.stats.running = this.running.size;
  }
}
