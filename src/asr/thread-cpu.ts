import fs from 'node:fs';

/** Where a thread's time went: on a CPU, and runnable but waiting for one (milliseconds). */
export interface ThreadTime {
  runMs: number;
  waitMs: number;
}

/**
 * The calling thread's time so far, from Linux's scheduler statistics (nanoseconds, unlike the 10 ms ticks of
 * /proc stat); undefined where the kernel does not tell. A job's difference of two readings is its CPU cost, apart
 * from how busy the machine was: wall time alone mixes the two.
 */
export function threadTime(): ThreadTime | undefined {
  try {
    const [run, wait] = fs.readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ');
    return { runMs: Number(run) / 1e6, waitMs: Number(wait) / 1e6 };
  } catch {
    return undefined;
  }
}

/** Time spent since `since` (undefined when either reading is). */
export function threadTimeSince(since: ThreadTime | undefined): ThreadTime | undefined {
  const now = threadTime();
  return since && now && { runMs: now.runMs - since.runMs, waitMs: now.waitMs - since.waitMs };
}
