import { abortError, type AsrEngine, type Transcript } from './engine.ts';

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
  /** One per worker. */
  lanes: InferenceLane[];
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
   * after the decision, and those behind it later still: at 96 sessions finals queued for seconds (README, Performance).
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

/**
 * What a job transcribes: its audio and, for a partial, the tokens its text continues and those the previous partial
 * had after them (TranscribeOptions.prefix, draft).
 */
export interface JobInput {
  samples: Float32Array;
  prefix?: number[];
  draft?: number[];
}

const AHEAD_CREDIT_SECONDS = 10;

interface SessionState {
  id: string;
  /** Seconds of audio the session has received (its stream clock), if known. */
  clock?: () => number;
  /**
   * Seconds of audio received ahead of the wall clock. It may go down to -AHEAD_CREDIT_SECONDS: audio held up (a
   * stalled client or network) and then sent in a burst is still real time; a long pause earns no more credit.
   */
  lead: number;
  lastStream: number;
  lastWall: number;
  /** Since when the session's screen shows nothing new (utterance start, or its last partial). */
  staleSince: number;
  /** The utterance on screen has no partial yet. */
  blank: boolean;
}

interface Job {
  kind: Kind;
  session: SessionState;
  /**
   * The job's audio, read when it starts, not when it is asked for: a partial waits under load and its audio grows
   * meanwhile (undefined: nothing left to read). A final's is fixed.
   */
  read(): JobInput | undefined;
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

export interface SchedulerStats {
  queuedFinals: number;
  queuedPartials: number;
  running: number;
  finalsDone: number;
  partialsDone: number;
  /** Replaced in the queue by the same session's newer partial. */
  partialsSuperseded: number;
  /** Waited longer than partialMaxWaitMs. */
  partialsStale: number;
  /** Stopped on a worker to make room for a real-time final. */
  partialsPreempted: number;
  /** Finals of sessions ahead of real time sent back to the queue for a real-time final. */
  finalsPreempted: number;
  /** Finals that ran on the realtime model: none of the final model's workers was free, or the final was late. */
  finalsOverflowed: number;
  /** Finals of sessions ahead of real time (served after real-time ones). */
  finalsAhead: number;
  /** Finals their requester gave up while queued (a speculative final when speech resumed, a closed session). */
  finalsWithdrawn: number;
  /** Finals their requester gave up while they ran: the work so far is lost. */
  finalsAbandoned: number;
  /** Jobs on a worker that died: retried once on another. */
  workerDeaths: number;
  timeouts: number;
}

/** One session's handle on the shared scheduler: what the recorder calls. */
export interface SessionTranscriber {
  final(samples: Float32Array, signal?: AbortSignal): Promise<Transcript>;
  /**
   * `read` is called when the job starts, for the audio as it is then (undefined: nothing left to read). Resolves
   * null when there was nothing to read, or the job was superseded by a newer partial of the same session or dropped
   * under load.
   */
  partial(read: () => JobInput | undefined): Promise<Transcript | null>;
  /** Drops this session's queued jobs and aborts its running ones (partials resolve null, finals reject). */
  cancel(): void;
}

/** What the session's screen shows, told by its owner: urgency of its partials follows it. */
export interface SessionHandle extends SessionTranscriber {
  /** A new utterance began: nothing on screen for it yet. */
  utteranceStarted(): void;
  /** A partial was shown. */
  partialShown(): void;
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
  readonly stats: SchedulerStats = {
    queuedFinals: 0,
    queuedPartials: 0,
    running: 0,
    finalsDone: 0,
    partialsDone: 0,
    partialsSuperseded: 0,
    partialsStale: 0,
    partialsPreempted: 0,
    finalsPreempted: 0,
    finalsOverflowed: 0,
    finalsAhead: 0,
    finalsWithdrawn: 0,
    finalsAbandoned: 0,
    workerDeaths: 0,
    timeouts: 0,
  };
  /** Called after every finished job with its kind, transcript and time from queue to result (metrics hook). */
  onJobDone?: (kind: Kind, transcript: Transcript, latencyMs: number) => void;

  constructor(options: SchedulerOptions) {
    if (options.lanes.length === 0) throw new Error('the scheduler needs at least one lane');
    this.lanes = options.lanes;
    this.running = options.lanes.map(() => undefined);
    this.order = options.lanes.map((_, i) => i).sort((a, b) => Number(options.lanes[a]!.home !== 'final') - Number(options.lanes[b]!.home !== 'final'));
    const partialRank = (l: InferenceLane) => (l.partialsFor === 'blank' ? 0 : l.home === 'partial' ? 1 : 2);
    this.partialOrder = options.lanes
      .map((_, i) => i)
      .filter((i) => options.lanes[i]!.partial)
      .sort((a, b) => partialRank(options.lanes[a]!) - partialRank(options.lanes[b]!));
    this.timeoutMs = options.timeoutMs ?? 30000;
    this.partialMaxWaitMs = options.partialMaxWaitMs ?? 1500;
    this.aheadSeconds = options.aheadSeconds ?? 3;
    this.lateFinalMs = options.lateFinalMs ?? 250;
  }

  /** `clock`: seconds of audio the session has received so far, for fair share. */
  forSession(id: string, clock?: () => number): SessionHandle {
    const now = performance.now();
    const session: SessionState = { id, clock, lead: 0, lastStream: clock?.() ?? 0, lastWall: now, staleSince: now, blank: true };
    return {
      final: (samples, signal) => this.submit('final', session, () => ({ samples }), signal) as Promise<Transcript>,
      partial: (read) => this.submit('partial', session, read),
      cancel: () => this.cancelSession(session),
      utteranceStarted: () => {
        session.staleSince = performance.now();
        session.blank = true;
      },
      partialShown: () => {
        session.staleSince = performance.now();
        session.blank = false;
      },
    };
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

  private submit(kind: Kind, session: SessionState, read: Job['read'], signal?: AbortSignal): Promise<Transcript | null> {
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise((resolve, reject) => {
      const queuedAt = performance.now();
      const job: Job = { kind, session, read, signal, queuedAt, ahead: this.isAhead(session, queuedAt), retried: false, resolve, reject };
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

  /** Updates the session's lead over the wall clock from its stream clock. */
  private isAhead(session: SessionState, now: number): boolean {
    if (!session.clock) return false;
    const stream = session.clock();
    session.lead = Math.max(-AHEAD_CREDIT_SECONDS, session.lead + (stream - session.lastStream) - (now - session.lastWall) / 1000);
    session.lastStream = stream;
    session.lastWall = now;
    return session.lead > this.aheadSeconds;
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
      else if ((!blankOnly || job.session.blank) && (!best || this.moreUrgent(job, best))) best = job;
    }
    if (best) this.partials.delete(best.session);
    return best;
  }

  private moreUrgent(a: Job, b: Job): boolean {
    if (a.ahead !== b.ahead) return !a.ahead;
    if (a.session.blank !== b.session.blank) return a.session.blank;
    return a.session.staleSince < b.session.staleSince;
  }

  private start(lane: number, job: Job): void {
    const input = job.read();
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
      const transcript = await Promise.race([engine.transcribe(samples, { signal: controller.signal, prefix, draft }), timeout]);
      if (job.kind === 'final') this.stats.finalsDone++;
      else this.stats.partialsDone++;
      this.onJobDone?.(job.kind, transcript, performance.now() - job.queuedAt);
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
