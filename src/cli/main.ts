import { UsageError } from './usage-error.ts';

const USAGE = `usage: earshot <command>

  serve [--port 8000] [--host 127.0.0.1]         run the server (web UI at /, WebSocket at /ws/stream)
  transcribe [--model NAME] [--json] FILE...      transcribe audio files (--no-cross-check: one model; --no-agc: no input gain)
  models list                                     known models, size, installed or not
  models pull [NAME...] [--default]               download models into the cache
  token [--ttl 600]                               a short-lived browser token for /ws/stream, signed with EARSHOT_TOKEN
`;

// Loaded on demand so that `models pull` (run by npm install) never touches onnxruntime or the server.
const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  models: async (args) => (await import('./models-command.ts')).modelsCommand(args),
  transcribe: async (args) => (await import('./transcribe-command.ts')).transcribeCommand(args),
  serve: async (args) => (await import('./serve-command.ts')).serveCommand(args),
  token: async (args) => (await import('./token-command.ts')).tokenCommand(args),
};

/** The `earshot` command line; returns the exit code. Errors print as one clear line, never a stack. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command ? 0 : 2;
  }
  const run = COMMANDS[command];
  if (!run) {
    process.stderr.write(`earshot: unknown command "${command}"\n${USAGE}`);
    return 2;
  }
  try {
    return await run(rest);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    process.stderr.write(`earshot ${command}: ${message}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}
