import type { AsrEngine } from '../asr/engine.ts';
import { loadEngine } from '../asr/load-engine.ts';
import { InferenceScheduler } from '../asr/scheduler.ts';
import { ModelStore } from '../models/store.ts';
import { loadSileroModel } from '../vad/load-vad.ts';
import type { SileroModel } from '../vad/silero-vad.ts';
import { VoiceActivityDetector } from '../vad/voice-activity-detector.ts';
import { Recorder } from './recorder.ts';
import { DEFAULT_RECORDER_CONFIG, type RecorderConfig } from './recorder-config.ts';

export interface ServiceOptions {
  store?: ModelStore;
  /** Model for finals (seed: model). */
  model?: string;
  /** Model for partials (seed: realtime_model_type); null loads none (no realtime transcription). */
  realtimeModel?: string | null;
  /** onnxruntime intra-op threads per run. */
  threads?: number;
  /** Inference jobs at once (default: CPU cores). */
  parallelism?: number;
  /** Deadline of one inference job. */
  timeoutMs?: number;
}

/**
 * Everything sessions share, loaded once: the ASR engines, the Silero model and the one inference scheduler.
 * Each session gets its own Recorder (and VAD state) from createRecorder().
 */
export class TranscriptionService {
  private constructor(
    readonly finalEngine: AsrEngine,
    readonly partialEngine: AsrEngine,
    readonly silero: SileroModel,
    readonly scheduler: InferenceScheduler,
  ) {}

  static async load(options: ServiceOptions = {}): Promise<TranscriptionService> {
    const store = options.store ?? new ModelStore();
    const model = options.model ?? DEFAULT_RECORDER_CONFIG.model;
    const realtimeModel = options.realtimeModel === undefined ? DEFAULT_RECORDER_CONFIG.realtimeModel : options.realtimeModel;
    const threads = options.threads ?? 1;
    const [finalEngine, partialEngine, silero] = await Promise.all([
      loadEngine(model, { store, threads }),
      realtimeModel && realtimeModel !== model ? loadEngine(realtimeModel, { store, threads }) : undefined,
      loadSileroModel(store),
    ]);
    const scheduler = new InferenceScheduler({
      finalEngine,
      partialEngine: partialEngine ?? finalEngine,
      parallelism: options.parallelism,
      timeoutMs: options.timeoutMs,
    });
    return new TranscriptionService(finalEngine, partialEngine ?? finalEngine, silero, scheduler);
  }

  async createRecorder(sessionId: string, config: Partial<RecorderConfig> = {}): Promise<Recorder> {
    const vad = await VoiceActivityDetector.create(this.silero, {
      sileroSensitivity: config.sileroSensitivity ?? DEFAULT_RECORDER_CONFIG.sileroSensitivity,
      webrtcSensitivity: config.webrtcSensitivity ?? DEFAULT_RECORDER_CONFIG.webrtcSensitivity,
    });
    return new Recorder(vad, this.scheduler.forSession(sessionId), {
      ...config,
      model: this.finalEngine.name,
      realtimeModel: this.partialEngine.name,
    });
  }

  async dispose(): Promise<void> {
    const engines = new Set([this.finalEngine, this.partialEngine]);
    await Promise.all([...[...engines].map((e) => e.dispose()), this.silero.dispose()]);
  }
}
