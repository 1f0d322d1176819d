import ort from 'onnxruntime-node';

/** Samples per Silero v5 window at 16 kHz (32 ms); the model takes no other size at this rate. */
export const SILERO_WINDOW_SAMPLES = 512;
/**
 * Samples of the previous window that v5 expects in front of each window, as the reference Python code
 * feeds them. Measured on the fixtures: with them speech scores higher and pauses drop to ~0, without them
 * probabilities are mushier (pauses in jfk.wav stay at 0.1-0.3).
 */
const CONTEXT_SAMPLES = 64;
const INPUT_SAMPLES = CONTEXT_SAMPLES + SILERO_WINDOW_SAMPLES;
/** The recurrent state of one stream: [2 layers, 128]; batched, the model takes [2, streams, 128]. */
const STATE_WIDTH = 128;
const STATE_SIZE = 2 * STATE_WIDTH;

/** One stream's window waiting for the next batched run: its state in, and where the state after it goes. */
interface Request {
  input: Float32Array;
  state: Float32Array;
  next: Float32Array;
  resolve(probability: number): void;
  reject(error: unknown): void;
}

/**
 * Silero VAD v5 loaded once per process. Streams share its InferenceSession and keep only their own
 * recurrent state, so any number of streams may run at once.
 *
 * The windows that streams ask for within one turn of the event loop run as one batch: a run costs 0.15 ms for one
 * window and 3.4 ms for 96 (0.035 ms each), and on the main thread, where Silero runs, that time is taken from every
 * connection. Under load the batches grow by themselves: what arrives while one runs goes in the next.
 */
export class SileroModel {
  /** The sample rate input, shared read-only by every stream. */
  private readonly sampleRate = new ort.Tensor('int64', BigInt64Array.of(16000n), []);
  private pending: Request[] = [];
  private scheduled = false;
  /** Runs and windows so far (windows / runs is the mean batch). */
  readonly stats = { runs: 0, windows: 0 };

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
    return new SileroStream(this);
  }

  /** @internal The probability of `input` ([context | window]) after `state`; the state after it is written to `next`. */
  score(input: Float32Array, state: Float32Array, next: Float32Array): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pending.push({ input, state, next, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.runBatch());
      }
    });
  }

  private async runBatch(): Promise<void> {
    const batch = this.pending;
    this.pending = [];
    const n = batch.length;
    const input = new Float32Array(n * INPUT_SAMPLES);
    const state = new Float32Array(n * STATE_SIZE);
    batch.forEach((r, i) => {
      input.set(r.input, i * INPUT_SAMPLES);
      // [2, n, 128]: each layer's rows of all streams together
      state.set(r.state.subarray(0, STATE_WIDTH), i * STATE_WIDTH);
      state.set(r.state.subarray(STATE_WIDTH), (n + i) * STATE_WIDTH);
    });
    try {
      const out = await this.session.run({
        input: new ort.Tensor('float32', input, [n, INPUT_SAMPLES]),
        state: new ort.Tensor('float32', state, [2, n, STATE_WIDTH]),
        sr: this.sampleRate,
      });
      this.stats.runs++;
      this.stats.windows += n;
      const probabilities = out.output!.data as Float32Array;
      const next = out.stateN!.data as Float32Array;
      batch.forEach((r, i) => {
        r.next.set(next.subarray(i * STATE_WIDTH, (i + 1) * STATE_WIDTH));
        r.next.set(next.subarray((n + i) * STATE_WIDTH, (n + i + 1) * STATE_WIDTH), STATE_WIDTH);
        r.resolve(probabilities[i]!);
      });
    } catch (e) {
      for (const r of batch) r.reject(e);
    } finally {
      // What came in while this batch ran goes next (scheduled stays set meanwhile, so it all waits for this).
      if (this.pending.length) setImmediate(() => void this.runBatch());
      else this.scheduled = false;
    }
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
  /** [context | window], filled in place and copied into each run's batch. */
  private readonly input = new Float32Array(INPUT_SAMPLES);
  /** The recurrent state, and the buffer a run writes the next one into (swapped: nothing allocated per window). */
  private state = new Float32Array(STATE_SIZE);
  private spare = new Float32Array(STATE_SIZE);
  private running = false;
  /** Bumped by reset(), so that a run finishing afterwards does not bring back the old state. */
  private generation = 0;

  /** @internal Created by SileroModel.createStream(). */
  constructor(private readonly model: SileroModel) {}

  /** The speech probability of the next window (512 samples, 16 kHz, [-1, 1]). */
  async probability(window: Float32Array): Promise<number> {
    if (this.running) throw new Error('SileroStream.probability() called before the previous call settled');
    this.load(window);
    this.running = true;
    const generation = this.generation;
    try {
      const probability = await this.model.score(this.input, this.state, this.spare);
      if (generation === this.generation) {
        const previous = this.state;
        this.state = this.spare;
        this.spare = previous;
      }
      return probability;
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
    this.state.fill(0);
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

