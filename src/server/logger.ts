/** One-line log messages; the CLI writes them to stderr, tests pass silentLogger. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export function consoleLogger(prefix = 'earshot'): Logger {
  const line = (level: string, message: string) => process.stderr.write(`${new Date().toISOString()} ${prefix} ${level}: ${message}\n`);
  return {
    info: (m) => line('info', m),
    warn: (m) => line('warn', m),
    error: (m) => line('error', m),
  };
}
