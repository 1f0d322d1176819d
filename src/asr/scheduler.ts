import { abortError, type AsrEngine, type Transcript } from './engine.ts';
import { SessionState, type JobInput, type ScheduledSession, type SessionTranscriber } from './scheduler-session.ts';
import { emptySchedulerStats, type SchedulerStats } from './scheduler-stats.ts';

export type { JobInput, ScheduledSession, SessionTranscriber } from './scheduler-session.ts';
export type { SchedulerStats } from './scheduler-stats.ts';

/** One inference worker as the scheduler sees it. */
export interface InferenceLane {
  /** What this worker runs a final with, and a partial with (absent: it runs no partials). */
  final: AsrEngine;
  partial?: AsrEngine;
  /**
   * The realtime model on a worker that holds the final model too (as its cross-check): a final that waited
   * longer than SchedulerOptions.lateFinalMs runs on it instead, as an overflowed final would.
   */
  late?: AsrEngine;
  /** 'final': it holds the model for finals; finals go there first and overflow onto 'partial' lanes only when none is free. */
  home: 'final' | 'partial';
  /**
   * Which partials it takes: 'blank' only those of an utterance with nothing on screen yet, and those before any
   * other lane (default 'all').
   */
  partialsFor?: 'all' | 'blank';
  /** False while the worker is being replaced: nothing is sent to it. */
  live(): boolean;
}

export interface SchedulerOptions {
  /** One per worker; or made from the scheduler's queue, for lanes whose engines look at it. */
  lanes: InferenceLane[] | ((queue: FinalQueue) => InferenceLane[]);
  /** A job still running after this long is abandoned with a ProcessingTimeoutError. */
  timeoutMs?: number;
  /** A partial that waited in the queue longer than this is dropped: its audio is already superseded. */
  partialMaxWaitMs?: number;
  /**
   * A session whose audio arrived this many seconds ahead of the wall clock is served after real-time sessions
   * (network jitter and a busy event loop make real-time clients look a second or so ahead at times).
   */
  aheadSeconds?: number;
  /**
   * A real-time final that waited this long for a worker runs on the lane's realtime model where it has one
   * (InferenceLane.late).
   * Default 250 ms: a speculative final is queued 0.4 s before the end-of-speech decision (0.2 s of silence against
   * 0.6 s), and a base final takes 100-150 ms on a loaded 2-core machine, so one that has waited longer would land
   * after the decision, and those behind it later still (docs/decisions/0011-late-finals-on-tiny.md).
   */
  lateFinalMs?: number;
}

export class ProcessingTimeoutError extends Error {
  readonly code = 'PROCESSING_TIMEOUT';
  constructor(ms: number) {
    super(`inference did not finish within ${ms} ms`);
  }
}

type Kind = 'final' | 'partial';

/** Told of every finished job (the server's metrics). */
export interface JobListener {
  /** `latencyMs`: from the job's queueing to its result. */
  inferenceDone(kind: Kind, transcript: Transcript, latencyMs: number): void;
}

/** What the scheduler offers a lane factory: the cross-check budget asks how many finals wait. */
export interface FinalQueue {
  readonly finalsWaiting: number;
}

interface Job {
  kind: Kind;
  session: SessionState;
  /** A final's audio; a partial's is read from its session when it starts. */
  samples?: Float32Array;
  queuedAt: number;
  /** The session was ahead of real time when it asked. */
  ahead: boolean;
  /** Already failed once on a worker that died. */
  retried: boolean;
  signal?: AbortSignal;
  resolve(t: Transcript | null): void;
  reject(e: unknown): void;
}

interface Running {
  job: Job;
  controller: AbortController;
  /** Aborted to make room for a real-time final: a partial is dropped, a final goes back to the queue. */
  preempted: boolean;
}

/**
 * The one inference queue of a server; it picks the worker too (the pool runs a job where it is told).
 * - Finals first: on a worker holding the final model; a partial (or a final of a session ahead of real time) running
 *   there is stopped to make room; only when that is impossible does a final overflow onto the realtime model.
 * - Idle workers take work of either kind (a worker holding the final model runs partials when no final waits, where
 *   it is given a partial engine).
 * - Partials by what the user sees: an utterance with nothing on screen first, then the stalest screen. At most one
 *   queued partial per session (a newer one replaces it); under overload partials thin out, finals are never dropped.
 * - Fair share: sessions sending audio faster than real time (uploads, replayed files) come after real-time ones.
 */
export class InferenceScheduler {
  readonly lanes: readonly InferenceLane[];
  private readonly finals: Job[] = [];
  private readonly partials = new Map<SessionState, Job>();
  /** What each lane runs now (index = lane). */
  private readonly running: Array<Running | undefined>;
  /** Lanes holding the final model first: the order in which free lanes are filled. */
  private readonly order: number[];
  /** Lanes that run partials, in the order they take them: blank-only lanes, then small-model lanes, then the rest. */
  private readonly partialOrder: number[];
  private readonly timeoutMs: number;
  private readonly partialMaxWaitMs: number;
  private readonly aheadSeconds: number;
  private readonly lateFinalMs: number;
  readonly stats: SchedulerStats = emptySchedulerStats();
  /** The longest audio every engine that may run a final takes in one call. */
  readonly maxAudioSeconds: number;
  private readonly listeners = new Set<JobListener>();

  constructor(options: SchedulerOptions) {
    const lanes = typeof options.lanes === 'function' ? options.lanes(this) : options.lanes;
    if (lanes.length === 0) throw new Error('the scheduler needs at least one lane');
    this.lanes = lanes;
    this.running = lanes.map(() => undefined);
    this.order = lanes.map((_, i) => i).sort((a, b) => Number(lanes[a]!.home !== 'final') - Number(lanes[b]!.home !== 'final'));
    const partialRank = (l: InferenceLane) => (l.partialsFor === 'blank' ? 0 : l.home === 'partial' ? 1 : 2);
    this.partialOrder = lanes
      .map((_, i) => i)
      .filter((i) => lanes[i]!.partial)
      .sort((a, b) => partialRank(lanes[a]!) - partialRank(lanes[b]!));
    this.maxAudioSeconds = Math.min(...lanes.flatMap((l) => [l.final, ...(l.late ? [l.late] : [])]).map((e) => e.maxAudioSeconds));
    this.timeoutMs = options.timeoutMs ?? 30000;
    this.partialMaxWaitMs = options.partialMaxWaitMs ?? 1500;
    this.aheadSeconds = options.aheadSeconds ?? 3;
    this.lateFinalMs = options.lateFinalMs ?? 250;
  }

  /** A handle for one session, whose partials' audio and screen the scheduler reads from `source` (default: none). */
  forSession(id: string, source: ScheduledSession = { partialInput: () => undefined }): SessionTranscriber {
    const session = new SessionState(id, source);
    return {
      maxAudioSeconds: this.maxAudioSeconds,
      final: (samples, signal) => this.submit('final', session, samples, signal) as Promise<Transcript>,
      partial: () => this.submit('partial', session),
      cancel: () => this.cancelSession(session),
    };
  }

  /** `listener` hears of every finished job until the returned function is called. */
  addListener(listener: JobListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Finals waiting for a worker. */
  get finalsWaiting(): number {
    return this.finals.length;
  }

  get queueDepth(): number {
    return this.finals.length + this.partials.size;
  }

  /** Workers up now; 0 means every worker is being replaced. */
  get liveLanes(): number {
    return this.lanes.filter((l) => l.live()).length;
  }

  /** A worker came back or went away. */
  lanesChanged(): void {
    this.pump();
  }

  private submit(kind: Kind, session: SessionState, samples?: Float32Array, signal?: AbortSignal): Promise<Transcript | null> {
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      const queuedAt = performance.now();
      const job: Job = { kind, session, samples, signal, queuedAt, ahead: session.ahead(queuedAt, this.aheadSeconds), retried: false, resolve, reject };
      if (kind === 'final') {
        if (job.ahead) this.stats.finalsAhead++;
        this.finals.push(job);
        signal?.addEventListener('abort', () => this.abortJob(job), { once: true });
      } else {
        const previous = this.partials.get(session);
        if (previous) this.dropPartial(previous, 'partialsSuperseded');
        this.partials.set(session, job);
      }
      this.pump();
    });
  }

  private abortJob(job: Job): void {
    const queued = this.finals.indexOf(job);
    if (queued >= 0) {
      this.finals.splice(queued, 1);
      this.stats.finalsWithdrawn++;
      job.reject(abortError());
      this.updateQueueStats();
    }
    const running = this.running.find((r) => r?.job === job);
    if (running) {
      this.stats.finalsAbandoned++;
      running.controller.abort();
    }
  }

  private dropPartial(job: Job, reason: 'partialsSuperseded' | 'partialsStale'): void {
    this.partials.delete(job.session);
    this.stats[reason]++;
    job.resolve(null);
  }

  private cancelSession(session: SessionState): void {
    const partial = this.partials.get(session);
    if (partial) this.dropPartial(partial, 'partialsSuperseded');
    for (const job of this.finals.filter((j) => j.session === session)) this.abortJob(job);
    for (const r of this.running) if (r?.job.session === session) r.controller.abort();
    this.updateQueueStats();
  }

  private free(lane: number): boolean {
    return !this.running[lane] && this.lanes[lane]!.live();
  }

  /** A lane holding the final model that runs something a real-time final may stop. */
  private preemptable(lane: number): boolean {
    const r = this.running[lane];
    return this.lanes[lane]!.home === 'final' && this.lanes[lane]!.live() && !!r && !r.preempted && (r.job.kind === 'partial' || r.job.ahead);
  }

  private pump(): void {
    // Free workers holding the final model (or any, when none of those is up) take a final.
    const bigLive = this.lanes.some((l) => l.home === 'final' && l.live());
    for (const lane of this.order) {
      if (!this.free(lane) || (bigLive && this.lanes[lane]!.home !== 'final')) continue;
      const job = this.takeFinal(true);
      if (job) this.start(lane, job);
    }
    // Real-time finals still waiting: stop partials (or ahead finals) on workers holding the final model for them
    // rather than run them on the small model. The abort takes effect at the next decoder step.
    let waiting = this.finals.filter((j) => !j.ahead).length - this.running.filter((r) => r?.preempted).length;
    for (const lane of this.order) {
      if (waiting <= 0) break;
      if (!this.preemptable(lane)) continue;
      const r = this.running[lane]!;
      r.preempted = true;
      r.controller.abort();
      waiting--;
    }
    // Free small-model workers: a real-time final nothing else can take (overflow).
    for (const lane of this.order) {
      if (waiting <= 0) break;
      if (!this.free(lane)) continue;
      const overflow = this.takeFinal(false);
      if (!overflow) break;
      this.stats.finalsOverflowed++;
      waiting--;
      this.start(lane, overflow);
    }
    // Partials for whatever is still idle: blank screens on the lanes kept for them, then small-model workers
    // (faster, and never stopped for a final), then the final model's.
    for (const lane of this.partialOrder) {
      for (let job; this.free(lane) && (job = this.nextPartial(this.lanes[lane]!.partialsFor === 'blank')); ) this.start(lane, job);
    }
    this.updateQueueStats();
  }

  /** The oldest real-time final; then, if `ahead`, the oldest final of a session ahead of real time. */
  private takeFinal(ahead: boolean): Job | undefined {
    let i = this.finals.findIndex((j) => !j.ahead);
    if (i < 0 && ahead) i = this.finals.length > 0 ? 0 : -1;
    return i < 0 ? undefined : this.finals.splice(i, 1)[0];
  }

  /**
   * Real-time sessions before ahead ones; an utterance with nothing on screen first; then the stalest screen.
   * `blankOnly`: only an utterance with nothing on screen.
   */
  private nextPartial(blankOnly: boolean): Job | undefined {
    const now = performance.now();
    let best: Job | undefined;
    for (const job of this.partials.values()) {
      if (now - job.queuedAt > this.partialMaxWaitMs) this.dropPartial(job, 'partialsStale');
      else if ((!blankOnly || job.session.screen.blank) && (!best || this.moreUrgent(job, best))) best = job;
    }
    if (best) this.partials.delete(best.session);
    return best;
  }

  private moreUrgent(a: Job, b: Job): boolean {
    if (a.ahead !== b.ahead) return !a.ahead;
    const [sa, sb] = [a.session.screen, b.session.screen];
    if (sa.blank !== sb.blank) return sa.blank;
    return sa.since < sb.since;
  }

  private start(lane: number, job: Job): void {
    const input: JobInput | undefined = job.samples ? { samples: job.samples } : job.session.source.partialInput();
    if (!input) {
      this.stats.partialsSuperseded++; // by the utterance's final
      return job.resolve(null);
    }
    const controller = new AbortController();
    const r: Running = { job, controller, preempted: false };
    this.running[lane] = r;
    void this.run(lane, r, input);
  }

  private async run(lane: number, r: Running, { samples, prefix, draft }: JobInput): Promise<void> {
    const { job, controller } = r;
    const engine = job.kind === 'partial' ? this.lanes[lane]!.partial! : this.finalEngine(this.lanes[lane]!, job);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.stats.timeouts++;
        controller.abort();
        reject(new ProcessingTimeoutError(this.timeoutMs));
      }, this.timeoutMs);
    });
    try {
      const keyterms = job.session.source.keyterms?.();
      // Partials and finals overflowing onto the realtime model under load decode keyterms without forks (engine.ts).
      const keytermForks = job.kind === 'partial' || engine === this.lanes[lane]!.late ? 0 : undefined;
      const options = { signal: controller.signal, prefix, draft, keyterms, keytermForks };
      const transcript = await Promise.race([engine.transcribe(samples, options), timeout]);
      if (job.kind === 'final') this.stats.finalsDone++;
      else this.stats.partialsDone++;
      for (const listener of this.listeners) listener.inferenceDone(job.kind, transcript, performance.now() - job.queuedAt);
      job.resolve(transcript);
    } catch (e) {
      this.failed(r, e);
    } finally {
      clearTimeout(timer);
      this.running[lane] = undefined;
      this.pump();
    }
  }

  private finalEngine(lane: InferenceLane, job: Job): AsrEngine {
    // A session ahead of real time waits by design (fair share) and gets the final model's accuracy.
    if (!lane.late || job.ahead || performance.now() - job.queuedAt < this.lateFinalMs) return lane.final;
    this.stats.finalsOverflowed++;
    return lane.late;
  }

  /** A job that did not finish: preempted finals and finals whose worker died go back to the queue (once, for deaths). */
  private failed({ job, preempted }: Running, e: unknown): void {
    const died = (e as { code?: string }).code === 'WORKER_DIED';
    if (died) this.stats.workerDeaths++;
    if (job.kind === 'partial') {
      if (preempted) this.stats.partialsPreempted++;
      job.resolve(null);
    } else if ((preempted && !job.signal?.aborted) || (died && !job.retried)) {
      if (preempted) this.stats.finalsPreempted++;
      job.retried ||= died;
      this.finals.unshift(job);
    } else {
      job.reject(e);
    }
  }

  private updateQueueStats(): void {
    this.stats.queuedFinals = this.finals.length;
    this.stats.queuedPartials = this.partials.size;
    this.stats.running = this.running.filter(Boolean).length;
  }
}
