import type { AsrEngine } from './engine.ts';

/** Time over which a worker's recent busy share is averaged. */
const WINDOW_MS = 10_000;
/**
 * A cross-checked final costs about 1.9× a plain one: above half busy on plain finals, cross-checks would fill the
 * worker and finals would queue (docs/decisions/0004-cross-check-finals.md).
 */
const MAX_BUSY_SHARE = 0.5;

/**
 * Asks for the cross-check (cross-check-engine.ts) only while the worker has time for it: no other final waits, and
 * its finals kept it less than half busy lately (an exponentially decaying average of its busy time). Under load
 * finals run on the final model alone, so the cross-check costs no capacity. `always`: every final (offline use).
 */
export function whenIdle(engine: AsrEngine, finalsWaiting: () => number, always = false): AsrEngine {
  let busyMs = 0;
  let updatedAt = performance.now();
  const decayTo = (now: number) => {
    busyMs *= Math.exp(-(now - updatedAt) / WINDOW_MS);
    updatedAt = now;
  };
  return {
    ...engine,
    transcribe: async (samples, options) => {
      const started = performance.now();
      decayTo(started);
      const crossCheck = always || (finalsWaiting() === 0 && busyMs / WINDOW_MS < MAX_BUSY_SHARE);
      try {
        return await engine.transcribe(samples, { ...options, crossCheck });
      } finally {
        const now = performance.now();
        decayTo(now);
        busyMs += now - started;
      }
    },
  };
}
