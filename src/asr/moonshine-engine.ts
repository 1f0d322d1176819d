import path from 'node:path';
import ort from 'onnxruntime-node';
import { ASR_SAMPLE_RATE, abortError, type AsrEngine, type TranscribeOptions, type Transcript } from './engine.ts';
import { decodeTokens } from './tokenizer.ts';

export interface MoonshineShape {
  layers: number;
  heads: number;
  headDim: number;
}

/** Decoder geometry of the published Moonshine ONNX exports (read off their input metadata). */
export const MOONSHINE_SHAPES: Record<string, MoonshineShape> = {
  'moonshine-tiny': { layers: 6, heads: 8, headDim: 36 },
  'moonshine-base': { layers: 8, heads: 8, headDim: 52 },
};

export interface MoonshineOptions {
  name: string;
  /** Folder holding encoder_model.onnx and decoder_model_merged.onnx. */
  dir: string;
  /** onnxruntime intra-op threads per run; small models gain little from more (see README, Performance). */
  threads?: number;
}

const START_TOKEN = 1;
const END_TOKEN = 2;
/** Moonshine speaks at most ~6 tokens per second of audio; more means the decoder is looping. */
const TOKENS_PER_SECOND = 6;
const MIN_TOKEN_CAP = 8;

/**
 * Moonshine on onnxruntime-node: encoder once, then greedy decoding with the merged decoder and its KV cache.
 * Sessions are created once and shared; every transcribe() keeps its state in locals, so calls may overlap.
 */
export class MoonshineEngine implements AsrEngine {
  readonly maxAudioSeconds = 30;

  private constructor(
    readonly name: string,
    private readonly shape: MoonshineShape,
    private readonly encoder: ort.InferenceSession,
    private readonly decoder: ort.InferenceSession,
    private readonly emptyCache: ort.Tensor,
    /**
     * What later decoder steps fetch: the logits and the decoder half of the cache. The merged model also passes the
     * encoder half through on every step; not fetching it saves copying megabytes out per token.
     */
    private readonly stepFetches: string[],
  ) {}

  static async load({ name, dir, threads = 1 }: MoonshineOptions): Promise<MoonshineEngine> {
    const shape = MOONSHINE_SHAPES[name];
    if (!shape) throw new Error(`unknown Moonshine model "${name}"`);
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    };
    const [encoder, decoder] = await Promise.all([
      ort.InferenceSession.create(path.join(dir, 'encoder_model.onnx'), options),
      ort.InferenceSession.create(path.join(dir, 'decoder_model_merged.onnx'), options),
    ]);
    const emptyCache = new ort.Tensor('float32', new Float32Array(0), [1, shape.heads, 0, shape.headDim]);
    const stepFetches = ['logits'];
    for (let layer = 0; layer < shape.layers; layer++) stepFetches.push(`present.${layer}.decoder.key`, `present.${layer}.decoder.value`);
    return new MoonshineEngine(name, shape, encoder, decoder, emptyCache, stepFetches);
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
    const hidden = encoded.last_hidden_state!;

    const maxTokens = Math.max(MIN_TOKEN_CAP, Math.ceil(audioSeconds * TOKENS_PER_SECOND));
    const tokens: number[] = [];
    const inputIds = new BigInt64Array([BigInt(START_TOKEN)]);
    const inputIdsTensor = new ort.Tensor('int64', inputIds, [1, 1]);
    const cacheBranch = new ort.Tensor('bool', new Uint8Array([0]), [1]);
    const feeds: Record<string, ort.Tensor> = { input_ids: inputIdsTensor, encoder_hidden_states: hidden, use_cache_branch: cacheBranch };
    for (let layer = 0; layer < this.shape.layers; layer++) {
      for (const part of ['decoder', 'encoder']) {
        feeds[`past_key_values.${layer}.${part}.key`] = this.emptyCache;
        feeds[`past_key_values.${layer}.${part}.value`] = this.emptyCache;
      }
    }

    for (let step = 0; step < maxTokens; step++) {
      if (signal?.aborted) throw abortError();
      const out = step === 0 ? await this.decoder.run(feeds) : await this.decoder.run(feeds, this.stepFetches);
      const next = argmaxLast(out.logits!);
      if (next === END_TOKEN) break;
      tokens.push(next);
      inputIds[0] = BigInt(next);
      // The encoder half of the cache is computed on the first step only; later steps carry the decoder half forward.
      for (let layer = 0; layer < this.shape.layers; layer++) {
        const parts = step === 0 ? ['decoder', 'encoder'] : ['decoder'];
        for (const part of parts) {
          feeds[`past_key_values.${layer}.${part}.key`] = out[`present.${layer}.${part}.key`]!;
          feeds[`past_key_values.${layer}.${part}.value`] = out[`present.${layer}.${part}.value`]!;
        }
      }
      cacheBranch.data[0] = 1;
    }

    return { text: decodeTokens(tokens), model: this.name, audioSeconds, processingMs: performance.now() - started };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.encoder.release(), this.decoder.release()]);
  }
}

/** Index of the largest logit of the last position; a plain loop beats any array helper over 32k entries. */
function argmaxLast(logits: ort.Tensor): number {
  const data = logits.data as Float32Array;
  const vocab = logits.dims[logits.dims.length - 1]!;
  const offset = data.length - vocab;
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < vocab; i++) {
    const v = data[offset + i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}
