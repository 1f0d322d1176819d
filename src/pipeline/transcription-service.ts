import type { BiasPhrase } from '../asr/context-graph.ts';
import { availableCpus } from '../asr/available-cpus.ts';
import type { AsrEngine } from '../asr/engine.ts';
import { whenIdle } from '../asr/cross-check-budget.ts';
import { EnginePool, type ModelLocation } from '../asr/engine-pool.ts';
import { InferenceScheduler, type FinalQueue, type InferenceLane } from '../asr/scheduler.ts';
import { findModel } from '../models/catalog.ts';
import { ModelStore } from '../models/store.ts';
import { loadSileroModel } from '../vad/load-vad.ts';
import type { SileroModel } from '../vad/silero-vad.ts';
import { VoiceActivityDetector } from '../vad/voice-activity-detector.ts';
import { AudioInput } from '../recorder/audio-input.ts';
import { Recorder } from '../recorder/recorder.ts';
import { DEFAULT_RECORDER_CONFIG, type RecorderConfig } from '../recorder/recorder-config.ts';

export interface ServiceOptions {
  store?: ModelStore;
  /** Model for finals (seed: model). */
  model?: string;
  /** Model for partials (seed: realtime_model_type); null loads none (no realtime transcription). */
  realtimeModel?: string | null;
  /**
   * Model that cross-checks every final (src/asr/cross-check-engine.ts), loaded beside the final model; null: none.
   * Default: moonshine-tiny for moonshine-base (docs/decisions/0004-cross-check-finals.md).
   */
  checkModel?: string | null;
  /**
   * Cross-check every final, however busy the worker (offline transcription, where no one waits on latency).
   * Default false: only while the worker has time for it (src/asr/cross-check-budget.ts): always on, it costs
   * capacity (docs/decisions/0004-cross-check-finals.md).
   */
  crossCheckAlways?: boolean;
  /** onnxruntime intra-op threads per run. */
  threads?: number;
  /** Inference worker threads, i.e. jobs at once (default: CPU cores). */
  parallelism?: number;
  /** Deadline of one inference job. */
  timeoutMs?: number;
}

/** Which model cross-checks a final model's hypotheses when ServiceOptions.checkModel is not given. */
const DEFAULT_CHECK_MODEL: Record<string, string> = { 'moonshine-base': 'moonshine-tiny' };

/**
 * Everything sessions share, loaded once: the ASR engines (in worker threads), the Silero model and the one
 * inference scheduler. Each session gets its own Recorder (and VAD state) from createRecorder().
 */
export class TranscriptionService {
  private constructor(
    readonly finalEngine: AsrEngine,
    readonly partialEngine: AsrEngine,
    readonly silero: SileroModel,
    readonly scheduler: InferenceScheduler,
    private readonly pool: EnginePool,
  ) {}

  static async load(options: ServiceOptions = {}): Promise<TranscriptionService> {
    const store = options.store ?? new ModelStore();
    const model = options.model ?? DEFAULT_RECORDER_CONFIG.model;
    const realtimeModel = options.realtimeModel === undefined ? DEFAULT_RECORDER_CONFIG.realtimeModel : options.realtimeModel;
    const partialModel = realtimeModel ?? model;
    const checkModel = options.checkModel === undefined ? DEFAULT_CHECK_MODEL[model] : options.checkModel;
    const check = checkModel && checkModel !== model ? checkModel : undefined;
    const names = [...new Set([model, partialModel, ...(check ? [check] : [])])];
    for (const name of names) {
      if (findModel(name, store.catalog).role !== 'asr') throw new Error(`"${name}" is not a speech recognition model`);
    }
    // One at a time: a missing model fails with the fetch command of the first one named (the final model's), not
    // of whichever check happened to finish first.
    const dirs = new Map<string, string>();
    for (const name of names) dirs.set(name, await store.require(name));
    // The realtime model reads prefixes in one call; as a cross-check it scores token by token, on the pinned graph.
    const location = (name: string, prefixes = name === partialModel): ModelLocation => ({ name, dir: dirs.get(name)!, prefixes });
    const models = [...new Set([model, partialModel])].map((name) => (name === model && check ? { ...location(name), checkWith: location(check, false) } : location(name)));
    const workers = Math.max(1, options.parallelism ?? availableCpus());
    const layout = workerLayout(models, workers);
    const [poolResult, sileroResult] = await Promise.allSettled([EnginePool.start({ workers: layout, threads: options.threads ?? 1 }), loadSileroModel(store)]);
    if (poolResult.status === 'rejected' || sileroResult.status === 'rejected') {
      // Free whichever half did load, so a failed start leaves no thread or session behind.
      if (poolResult.status === 'fulfilled') await poolResult.value.dispose();
      if (sileroResult.status === 'fulfilled') await sileroResult.value.dispose();
      throw poolResult.status === 'rejected' ? poolResult.reason : (sileroResult as PromiseRejectedResult).reason;
    }
    const pool = poolResult.value;
    const silero = sileroResult.value;
    const finalEngine = pool.engine(model);
    const partialEngine = pool.engine(partialModel);
    // Workers holding only the realtime model run finals on it when they overflow. One holding only the final model
    // runs every partial on it only where a core would otherwise idle: with no more cores than workers, the CPU it
    // would use is the tiny worker's and the event loop's (docs/decisions/0014-partials-off-the-base-worker.md). It
    // always takes the first partial of an utterance when free: on the first half second of speech the small model
    // often says nothing where the big one already does.
    const spareCore = availableCpus() > workers;
    const lanes = (queue: FinalQueue) =>
      pool.workers.map((w): InferenceLane => {
        const holdsPartialModel = w.models.includes(partialModel);
        const holdsFinalModel = w.models.includes(model);
        const final = w.engine(holdsFinalModel ? model : partialModel);
        return {
          // Only the final model's worker holds the check model; the budget decides per final whether to use it.
          final: check && holdsFinalModel ? whenIdle(final, () => queue.finalsWaiting, options.crossCheckAlways) : final,
          partial: w.engine(holdsPartialModel ? partialModel : model),
          late: holdsFinalModel && w.checkModels.includes(partialModel) ? w.engine(partialModel) : undefined,
          partialsFor: holdsPartialModel || spareCore ? 'all' : 'blank',
          home: holdsFinalModel ? 'final' : 'partial',
          live: w.live,
        };
      });
    const scheduler = new InferenceScheduler({ lanes, timeoutMs: options.timeoutMs });
    pool.onChange = () => scheduler.lanesChanged();
    return new TranscriptionService(finalEngine, partialEngine, silero, scheduler, pool);
  }

  /** A recorder for one session on the shared models; `sampleRate`: the rate its audio comes at, prepared for now. */
  async createRecorder(sessionId: string, config: Partial<RecorderConfig> = {}, sampleRate?: number, keyterms: BiasPhrase[] = []): Promise<Recorder> {
    if (sampleRate !== undefined) await AudioInput.prepare(sampleRate);
    const vad = await VoiceActivityDetector.create(this.silero, {
      sileroSensitivity: config.sileroSensitivity ?? DEFAULT_RECORDER_CONFIG.sileroSensitivity,
      webrtcSensitivity: config.webrtcSensitivity ?? DEFAULT_RECORDER_CONFIG.webrtcSensitivity,
    });
    const recorder = new Recorder(vad, (session) => this.scheduler.forSession(sessionId, session), {
      ...config,
      model: this.finalEngine.name,
      realtimeModel: this.partialEngine.name,
    });
    recorder.setKeyterms(keyterms);
    return recorder;
  }

  /** Test hook: kills inference worker `index` as a crash would; it is replaced. */
  killWorker(index: number): void {
    this.pool.killWorker(index);
  }

  async dispose(): Promise<void> {
    await Promise.all([this.pool.dispose(), this.silero.dispose()]);
  }
}

/**
 * Which models each worker holds. With two models, workers alternate between the final model and the realtime
 * model instead of each holding both: a worker costs ~250 MB per model it holds (the scheduler stops a partial on
 * the final model's worker for a final, so finals do not queue behind partials). A single worker holds both.
 */
function workerLayout(models: ModelLocation[], workers: number): ModelLocation[][] {
  if (models.length === 1 || workers === 1) return Array.from({ length: workers }, () => models);
  return Array.from({ length: workers }, (_, i) => [models[i % models.length]!]);
}
