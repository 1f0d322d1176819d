import type { ConnectionRegistry } from './connection-registry.ts';
import type { Logger } from './logger.ts';

/**
 * SIGTERM drain: each connection closes right after its next natural final (bounded by `drainMs`, in the way its
 * protocol tells a client to reconnect elsewhere); resolves once all have closed or a second after the bound.
 */
export async function drainConnections(connections: ConnectionRegistry, drainMs: number, log: Logger): Promise<void> {
  log.info(`draining ${connections.size} connections (at most ${drainMs} ms)`);
  for (const c of connections) c.session.drain(drainMs);
  const deadline = delay(drainMs + 1000);
  await Promise.race([Promise.all([...connections].map((c) => c.closed)), deadline.promise]);
  deadline.cancel();
}

/**
 * Shutdown: every session is stopped (its final in progress delivered) and its connection closed, and `jobs` (HTTP
 * transcriptions) are awaited; whatever is left after `shutdownMs` is cut.
 */
export async function closeConnections(connections: ConnectionRegistry, jobs: Iterable<Promise<void>>, shutdownMs: number, log: Logger): Promise<void> {
  const graceful = Promise.all([
    ...[...connections].map(async (c) => {
      await c.session.shutdown();
      await c.closed;
    }),
    ...jobs,
  ]);
  const deadline = delay(shutdownMs);
  const finished = await Promise.race([graceful.then(() => true), deadline.promise.then(() => false)]);
  deadline.cancel();
  if (!finished) log.warn('shutdown deadline reached; cutting the remaining connections');
  for (const c of connections) c.terminate();
}

/** A timer as a promise, cancellable so that it does not hold the process. */
export function delay(ms: number): { promise: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return { promise, cancel: () => clearTimeout(timer) };
}
