import ort from 'onnxruntime-node';

/** Samples per Silero v5 window at 16 kHz (32 ms); the model takes no other size at this rate. */
export const SILERO_WINDOW_SAMPLES = 512;
/**
 * Samples of the previous window that v5 expects in front of each window, as the reference Python code
 * feeds them. Measured on the fixtures: with them speech scores higher and pauses drop to ~0, without them
 * probabilities are mushier (pauses in jfk.wav stay at 0.1-0.3).
 */
const CONTEXT_SAMPLES = 64;
const STATE_DIMS = [2, 1, 128] as const;
const STATE_SIZE = 2 * 1 * 128;

/**
 * Silero VAD v5 loaded once per process. Streams share its InferenceSession and keep only their own
 * recurrent state, so any number of streams may run at once.
 */
export class SileroModel {
  /** The sample rate input, shared read-only by every stream. */
  private readonly sampleRate = new ort.Tensor('int64', BigInt64Array.of(16000n), []);

  private constructor(private readonly session: ort.InferenceSession) {}

  /** Loads silero_vad_v5.onnx; one intra-op thread, since a window is far too small to split. */
  static async load(modelPath: string): Promise<SileroModel> {
    const session = await ort.InferenceSession.create(modelPath, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    return new SileroModel(session);
  }

  createStream(): SileroStream {
    return new SileroStream(this.session, this.sampleRate);
  }

  /** Frees the native session; streams must not be used afterwards. */
  async dispose(): Promise<void> {
    await this.session.release();
  }
}

/**
 * One audio stream's view of the model: consecutive 512-sample windows of 16 kHz audio in, speech
 * probabilities out. Calls on one stream are sequential: await each probability() before the next.
 */
export class SileroStream {
  readonly windowSamples = SILERO_WINDOW_SAMPLES;
  /** [context | window], filled in place and fed to every run. */
  private readonly input = new Float32Array(CONTEXT_SAMPLES + SILERO_WINDOW_SAMPLES);
  private readonly inputTensor = new ort.Tensor('float32', this.input, [1, this.input.length]);
  private state = zeroState();
  private running = false;
  /** Bumped by reset(), so that a run finishing afterwards does not bring back the old state. */
  private generation = 0;

  /** @internal Created by SileroModel.createStream(). */
  constructor(
    private readonly session: ort.InferenceSession,
    private readonly sampleRate: ort.Tensor,
  ) {}

  /** The speech probability of the next window (512 samples, 16 kHz, [-1, 1]). */
  async probability(window: Float32Array): Promise<number> {
    if (this.running) throw new Error('SileroStream.probability() called before the previous call settled');
    this.load(window);
    this.running = true;
    const generation = this.generation;
    try {
      const out = await this.session.run({ input: this.inputTensor, state: this.state, sr: this.sampleRate });
      if (generation === this.generation) this.state = out.stateN as ort.Tensor;
      return (out.output.data as Float32Array)[0];
    } finally {
      this.running = false;
    }
  }

  /**
   * Takes the next window without running the model, so that the context stays true to the audio;
   * the recurrent state is left as it was.
   */
  skip(window: Float32Array): void {
    if (this.running) throw new Error('SileroStream.skip() called before probability() settled');
    this.load(window);
  }

  /** Starts over as for a new stream. */
  reset(): void {
    this.generation++;
    this.state = zeroState();
    this.input.fill(0);
  }

  private load(window: Float32Array): void {
    if (window.length !== SILERO_WINDOW_SAMPLES) {
      throw new Error(`Silero expects ${SILERO_WINDOW_SAMPLES} samples per window, got ${window.length}`);
    }
    // The previous window's tail becomes this window's context.
    this.input.copyWithin(0, SILERO_WINDOW_SAMPLES, SILERO_WINDOW_SAMPLES + CONTEXT_SAMPLES);
    this.input.set(window, CONTEXT_SAMPLES);
  }
}

function zeroState(): ort.Tensor {
  return new ort.Tensor('float32', new Float32Array(STATE_SIZE), STATE_DIMS);
}
