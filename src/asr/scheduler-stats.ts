/** What the scheduler has done so far, and its queue now (exported as metrics). */
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

export function emptySchedulerStats(): SchedulerStats {
  return {
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
}
