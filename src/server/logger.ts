/**
 * Structured logs through pino: one JSON object per line on stderr with `level`, `time`, `msg`, and the ids a line
 * is about (`session` for a WebSocket connection, `req` for an HTTP request) as fields of their own.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

/** Tests pass this one. */
export const silentLogger: Logger = pino({ level: 'silent' });

/** The CLI's logger: level from EARSHOT_LOG_LEVEL (default info); written synchronously, so no line is lost on exit. */
export function stderrLogger(level = process.env.EARSHOT_LOG_LEVEL || 'info'): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ dest: 2, sync: true }));
}
