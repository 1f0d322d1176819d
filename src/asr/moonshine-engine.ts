import path from 'node:path';
import ort from 'onnxruntime-node';
import { ASR_SAMPLE_RATE, abortError, type AsrEngine, type TranscribeOptions, type Transcript } from './engine.ts';
import { NEXT_TOKEN } from './moonshine-graph.ts';
import { prepareDecoder } from './prepared-decoder.ts';
import { decodeTokens } from './tokenizer.ts';

export interface MoonshineOptions {
  name: string;
  /** Folder holding encoder_model.onnx and decoder_model_merged.onnx. */
  dir: string;
  /** onnxruntime intra-op threads per run; small models gain little from more (see README, Performance). */
  threads?: number;
}

const START_TOKEN = 1;
const END_TOKEN = 2;
/**
 * A safety cap only: loops are caught by the recorder's hallucination guard, which asks the audio. Real speech needs
 * far less (measured: a read sentence 4.6 tokens per second, the same at 2× tempo 9.2, and Moonshine still hears
 * it); 15 also stays inside the step graph's 512 rotary positions at 30 s.
 */
const MAX_TOKENS_PER_SECOND = 15;
const MIN_TOKEN_CAP = 10;

/**
 * Moonshine on onnxruntime-node: the encoder once, the cross-attention cache once, then greedy decoding one token per
 * step with the decoder's self-attention cache (the published merged decoder, split once: see moonshine-graph.ts).
 * Sessions are created once and shared; every transcribe() keeps its state in locals, so calls may overlap.
 */
export class MoonshineEngine implements AsrEngine {
  readonly maxAudioSeconds = 30;

  private constructor(
    readonly name: string,
    /** [present output, past input] name pairs of the cross-attention cache and of the self-attention cache. */
    private readonly crossCache: CacheNames,
    private readonly selfCache: CacheNames,
    private readonly encoder: ort.InferenceSession,
    private readonly crossKv: ort.InferenceSession,
    private readonly step: ort.InferenceSession,
    private readonly emptyCache: ort.Tensor,
  ) {}

  static async load({ name, dir, threads = 1 }: MoonshineOptions): Promise<MoonshineEngine> {
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    };
    const decoder = await prepareDecoder(dir);
    // The encoder and the cross-attention cache run once per utterance on buffers that grow with its length: with
    // onnxruntime's arena they would keep the largest utterance's worth (~70 MB after 25 s on base) for good. Without
    // it they free what they used, and run no slower (base encoder on the fixtures: 501 ms vs 585 ms with the arena).
    // Decoder steps are small and many: they keep the arena.
    const once = { ...options, enableCpuMemArena: false };
    const [encoder, crossKv, step] = await Promise.all([
      ort.InferenceSession.create(path.join(dir, 'encoder_model.onnx'), once),
      createSession(decoder.crossKv, once),
      createSession(decoder.step, options),
    ]);
    const { layers, heads, headDim } = decoder.geometry;
    const emptyCache = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
    return new MoonshineEngine(name, cacheNames(layers, 'encoder'), cacheNames(layers, 'decoder'), encoder, crossKv, step, emptyCache);
  }

  async transcribe(samples: Float32Array, { signal }: TranscribeOptions = {}): Promise<Transcript> {
    const started = performance.now();
    const audioSeconds = samples.length / ASR_SAMPLE_RATE;
    if (audioSeconds > this.maxAudioSeconds) {
      throw new RangeError(`${this.name} takes at most ${this.maxAudioSeconds} s of audio per call (got ${audioSeconds.toFixed(1)} s)`);
    }
    if (samples.length < ASR_SAMPLE_RATE / 10) {
      return { text: '', model: this.name, audioSeconds, processingMs: performance.now() - started };
    }
    if (signal?.aborted) throw abortError();

    const encoded = await this.encoder.run({ input_values: new ort.Tensor('float32', samples, [1, samples.length]) });
    const cross = await this.crossKv.run({ encoder_hidden_states: encoded.last_hidden_state! });

    const maxTokens = Math.max(MIN_TOKEN_CAP, Math.ceil(audioSeconds * MAX_TOKENS_PER_SECOND));
    const tokens: number[] = [];
    const inputIds = new BigInt64Array([BigInt(START_TOKEN)]);
    const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', inputIds, [1, 1]) };
    for (const [present, past] of this.crossCache) feeds[past] = cross[present]!;
    for (const [, past] of this.selfCache) feeds[past] = this.emptyCache;

    for (let step = 0; step < maxTokens; step++) {
      if (signal?.aborted) throw abortError();
      const out = await this.step.run(feeds);
      const next = Number((out[NEXT_TOKEN]!.data as BigInt64Array)[0]);
      if (next === END_TOKEN) break;
      tokens.push(next);
      inputIds[0] = BigInt(next);
      for (const [present, past] of this.selfCache) feeds[past] = out[present]!;
    }

    return { text: decodeTokens(tokens), model: this.name, audioSeconds, processingMs: performance.now() - started };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.encoder.release(), this.crossKv.release(), this.step.release()]);
  }
}

function createSession(model: string | Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

type CacheNames = [present: string, past: string][];

function cacheNames(layers: number, half: 'encoder' | 'decoder'): CacheNames {
  return Array.from({ length: layers }, (_, layer) => ['key', 'value'].map((kind): [string, string] => [`present.${layer}.${half}.${kind}`, `past_key_values.${layer}.${half}.${kind}`])).flat();
}
