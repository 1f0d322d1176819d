import { compileKeyterms, KeytermError } from '../asr/keyterms.ts';
import { ModelStore } from '../models/store.ts';
import { TranscriptionService } from '../pipeline/transcription-service.ts';
import { ConfigError, resolveServerConfig, SERVE_USAGE } from '../server/config.ts';
import { stderrLogger } from '../server/logger.ts';
import { recorderSettingsProblem } from '../server/recorder-settings.ts';
import { isLoopbackHost } from '../server/security.ts';
import { EarshotServer } from '../server/server.ts';
import { UsageError } from './usage-error.ts';

/** After the drain, the process exits at the latest this long later, whatever is still running. */
const HARD_EXIT_AFTER_DRAIN_MS = 5000;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * `earshot serve`: checks the settings and that the models are installed, listens, loads the models (the server
 * answers /health at once and /ready once they are loaded), then runs until SIGTERM/SIGINT and drains: /ready and new
 * handshakes 503, each session closed right after its next final, then exit.
 */
export async function serveCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${SERVE_USAGE}\n`);
    return 0;
  }
  let config;
  try {
    config = resolveServerConfig(argv);
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
  // The operator's keyterms must compile (a character the vocabulary lacks would refuse every session).
  try {
    await compileKeyterms([], config.keyterms);
  } catch (e) {
    if (e instanceof KeytermError) throw new UsageError(`EARSHOT_KEYTERMS_FILE: ${e.message}`);
    throw e;
  }
  // Fail fast, before binding the port, with the one-line "npx earshot models pull NAME" message.
  const store = new ModelStore();
  for (const name of new Set([config.model, config.realtimeModel, ...(config.checkModel ? [config.checkModel] : []), 'silero-vad'])) await store.require(name);

  const level = process.env.EARSHOT_LOG_LEVEL || 'info';
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`EARSHOT_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got "${level}")`);
  const log = stderrLogger(level);
  const server = new EarshotServer({ config, log });
  const address = await server.listen();
  log.info(`listening on ${server.url} (web client /, WebSocket ${server.url.replace(/^http/, 'ws')}/ws/stream, port ${address.port})`);
  const wyoming = server.wyomingAddress;
  if (wyoming) log.info(`Wyoming on ${wyoming.address}:${wyoming.port} (no authentication: Home Assistant sends none)`);
  if (config.token) log.info('token required on the WebSocket routes, /v1/* and /metrics');
  if (!isLoopbackHost(config.host) && !config.token) {
    log.warn(`listening on ${config.host} without EARSHOT_TOKEN: anyone who can reach this port can use it`);
  }

  const started = performance.now();
  const loading = TranscriptionService.load({
    store,
    model: config.model,
    realtimeModel: config.realtimeModel,
    checkModel: config.checkModel,
    threads: config.threads,
    parallelism: config.parallelism,
    timeoutMs: config.timeoutMs,
  }).then(async (service) => {
    // The one check that needs the models: the longest utterance their window takes.
    const problem = recorderSettingsProblem(config.recorder, service.scheduler.maxAudioSeconds);
    if (!problem) return service;
    await service.dispose();
    throw new UsageError(problem);
  });
  server.useService(loading);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = async (code: number, why: string) => {
      if (stopping) return;
      stopping = true;
      log.info(`${why}: draining, then shutting down`);
      setTimeout(() => {
        log.error('shutdown deadline passed; exiting');
        process.exit(code || 1);
      }, config.drainMs + HARD_EXIT_AFTER_DRAIN_MS).unref();
      try {
        await server.drain();
      } catch (e) {
        log.error(`shutdown: ${(e as Error).message}`);
      }
      const service = await loading.catch(() => undefined);
      await service?.dispose().catch(() => {});
      log.info('stopped');
      resolve(code);
    };
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        log.warn(`second ${signal}; exiting now`);
        process.exit(130);
      }
      void stop(0, signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);

    loading.then(
      (service) => {
        const ms = Math.round(performance.now() - started);
        log.info(`ready: ${service.finalEngine.name} for finals, ${service.partialEngine.name} for partials, loaded in ${ms} ms`);
      },
      (e: unknown) => {
        if (e instanceof UsageError) {
          log.fatal(e.message);
          void stop(2, 'bad setting');
          return;
        }
        log.fatal(`loading the models failed: ${(e as Error).message}`);
        void stop(1, 'model load failure');
      },
    );
  });
}
