import type { BiasPhrase } from './context-graph.ts';
import type { Transcript } from './engine.ts';

/**
 * What a job transcribes: its audio and, for a partial, the tokens its text continues and those the previous partial
 * had after them (TranscribeOptions.prefix, draft).
 */
export interface JobInput {
  samples: Float32Array;
  prefix?: number[];
  draft?: number[];
}

/** What the user of a session sees, told by the session: the urgency of its partials follows it. */
export interface Screen {
  /** The utterance in progress shows nothing yet. */
  blank: boolean;
  /** Since when (performance.now()) the screen shows nothing new: the utterance's start or its last partial. */
  since: number;
}

/** What the scheduler asks of the session it serves (the recorder answers). */
export interface ScheduledSession {
  /** Seconds of audio the session has received (its stream clock), for fair share; absent: always real time. */
  receivedSeconds?(): number;
  /** What its screen shows; absent: blank since the session began. */
  screen?(): Screen;
  /**
   * The audio of its queued partial, read when a worker takes the job, not when it was asked for: a partial waits
   * under load and its audio grows meanwhile (undefined: nothing left to read, the utterance has ended).
   */
  partialInput(): JobInput | undefined;
  /** Keyterm spellings its jobs decode toward (TranscribeOptions.keyterms), read when a job starts. */
  keyterms?(): BiasPhrase[] | undefined;
}

/** One session's handle on the shared scheduler: what the recorder calls. */
export interface SessionTranscriber {
  /** The longest audio the engines take in one call (AsrEngine.maxAudioSeconds): an utterance must fit. */
  readonly maxAudioSeconds: number;
  final(samples: Float32Array, signal?: AbortSignal): Promise<Transcript>;
  /**
   * Queues a partial whose audio is read from the session (ScheduledSession.partialInput) when it starts. Resolves
   * null when there was nothing to read, or the job was superseded by a newer partial of the same session or dropped
   * under load.
   */
  partial(): Promise<Transcript | null>;
  /** Drops this session's queued jobs and aborts its running ones (partials resolve null, finals reject). */
  cancel(): void;
}

/**
 * How far below the wall clock a session's lead may go: audio held up (a stalled client or network) and then sent in
 * a burst is still real time; a long pause earns no more credit.
 */
const AHEAD_CREDIT_SECONDS = 10;

/** A session in the scheduler: what it asks of it and how far ahead of real time its audio arrives. */
export class SessionState {
  private lead = 0;
  /** The session's stream clock starts at 0 when it is created. */
  private lastStream = 0;
  private readonly createdAt = performance.now();
  private lastWall = this.createdAt;

  constructor(
    readonly id: string,
    readonly source: ScheduledSession,
  ) {}

  get screen(): Screen {
    return this.source.screen?.() ?? { blank: true, since: this.createdAt };
  }

  /** Updates the session's lead over the wall clock from its stream clock; true when over `aheadSeconds`. */
  ahead(now: number, aheadSeconds: number): boolean {
    if (!this.source.receivedSeconds) return false;
    const stream = this.source.receivedSeconds();
    this.lead = Math.max(-AHEAD_CREDIT_SECONDS, this.lead + (stream - this.lastStream) - (now - this.lastWall) / 1000);
    this.lastStream = stream;
    this.lastWall = now;
    return this.lead > aheadSeconds;
  }
}
