import path from 'node:path';
import ort from 'onnxruntime-node';
import { biasedBeam, biasedDraft, biasedGreedy, biasedStart, type BiasedDecoding } from './biased-decoding.ts';
import { ContextGraph, type BiasPhrase } from './context-graph.ts';
import { ASR_SAMPLE_RATE, abortError, type AsrEngine, type SequenceScore, type TranscribeOptions, type Transcript } from './engine.ts';
import { LOGPROBS, PROJECT_FROM, TOP_K, TOP_LOGPROBS, TOP_TOKENS } from './moonshine-graph.ts';
import { prepareDecoder } from './prepared-decoder.ts';
import { decodeTokens, loadVocabulary } from './tokenizer.ts';

export interface MoonshineOptions {
  name: string;
  /** Folder holding encoder_model.onnx and decoder_model_merged.onnx. */
  dir: string;
  /** onnxruntime intra-op threads per run; small models gain little from more (docs/decisions/0002-inference-in-worker-threads.md). */
  threads?: number;
  /**
   * Decoding will often continue a given prefix (the realtime model's partials): load the step graph that reads
   * several tokens in one call instead of the one pinned to a single token, which is ~15-20 % faster per token (tiny
   * 1.54 vs 1.86 ms, base 3.8 vs 4.3) but reads a prefix one step per token. Only one is loaded: each costs ~30-110 MB.
   */
  prefixes?: boolean;
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
 * Greedy decoding under a keyterm bias keeps this many of the model's own choices to rescore (biased-decoding.ts): on
 * the keyterm dev set 1, 2 and 4 read alike and none read worse (docs/decisions/keyterms-search.md); 2 covers a
 * second keyterm in the same utterance.
 */
const KEYTERM_FORKS = 2;

/**
 * Moonshine on onnxruntime-node: the encoder once, the cross-attention cache once, then decoding one token per step
 * (greedy, or a beam search) with the decoder's self-attention cache, or scoring a given token sequence (the published
 * merged decoder, split once: see moonshine-graph.ts).
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
    /** `step` reads any number of tokens per call (MoonshineOptions.prefixes). */
    private readonly prefill: boolean,
    private readonly emptyCache: ort.Tensor,
  ) {
    const presents = selfCache.map(([present]) => present);
    this.topFetch = [TOP_TOKENS, TOP_LOGPROBS, ...presents];
    this.scoreFetch = [LOGPROBS, ...presents];
  }

  /** Step outputs to fetch: the best tokens (greedy, beams) or all log-probabilities (scoring); never both copied out. */
  private readonly topFetch: string[];
  private readonly scoreFetch: string[];

  static async load({ name, dir, threads = 1, prefixes = false }: MoonshineOptions): Promise<MoonshineEngine> {
    const options: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    };
    const decoder = await prepareDecoder(dir);
    // The encoder and the cross-attention cache run once per utterance on buffers that grow with its length: with
    // onnxruntime's arena they would keep the largest utterance's worth (~70 MB after 25 s on base) for good. Without
    // it they free what they used, and run no slower (base encoder on the fixtures: 501 ms vs 585 ms with the arena).
    // Decoder steps are small and many: they keep the arena, except on the graph that reads several tokens per call,
    // whose largest buffers grow with the tokens read (a draft: up to the whole text; 24 sessions' peak RSS 439-447
    // MB with the arena, 427-435 without, partials per utterance alike).
    const once = { ...options, enableCpuMemArena: false };
    const [encoder, crossKv, step] = await Promise.all([
      ort.InferenceSession.create(path.join(dir, 'encoder_model.onnx'), once),
      createSession(decoder.crossKv, once),
      createSession(prefixes ? decoder.prefill : decoder.step, prefixes ? once : options),
      loadVocabulary(),
    ]);
    const { layers, heads, headDim } = decoder.geometry;
    const emptyCache = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
    return new MoonshineEngine(name, cacheNames(layers, 'encoder'), cacheNames(layers, 'decoder'), encoder, crossKv, step, prefixes, emptyCache);
  }

  async transcribe(samples: Float32Array, { signal, beams = 1, prefix, draft, keyterms, keytermForks }: TranscribeOptions = {}): Promise<Transcript> {
    const started = performance.now();
    const heard = await this.encode(samples, signal);
    const best = await heard.decode(beams, prefix, draft, keyterms, keytermForks);
    return { ...best, model: this.name, audioSeconds: samples.length / ASR_SAMPLE_RATE, processingMs: performance.now() - started };
  }

  /**
   * Runs the encoder and the cross-attention cache once; the result decodes the audio and scores token sequences
   * against it (as often as wanted, without encoding again).
   */
  async encode(samples: Float32Array, signal?: AbortSignal): Promise<EncodedAudio> {
    const audioSeconds = samples.length / ASR_SAMPLE_RATE;
    if (audioSeconds > this.maxAudioSeconds) {
      throw new RangeError(`${this.name} takes at most ${this.maxAudioSeconds} s of audio per call (got ${audioSeconds.toFixed(1)} s)`);
    }
    if (samples.length < ASR_SAMPLE_RATE / 10) return SILENCE;
    if (signal?.aborted) throw abortError();
    const encoded = await this.encoder.run({ input_values: new ort.Tensor('float32', samples, [1, samples.length]) });
    const cross = await this.crossKv.run({ encoder_hidden_states: encoded.last_hidden_state! });
    const start: Decoding = { tokens: [], logProb: 0, last: START_TOKEN, cache: {} };
    for (const [present, past] of this.crossCache) start.cache[past] = cross[present]!;
    for (const [, past] of this.selfCache) start.cache[past] = this.emptyCache;
    const maxTokens = Math.max(MIN_TOKEN_CAP, Math.ceil(audioSeconds * MAX_TOKENS_PER_SECOND));
    // The last plain greedy decode: scoring a sequence that begins with its tokens resumes from there.
    let decoded: Decoding | undefined;
    return {
      decode: async (beams = 1, prefix = [], draft = [], keyterms = [], forks = KEYTERM_FORKS) => {
        if (!Number.isInteger(beams) || beams < 1 || beams >= TOP_K) throw new RangeError(`beams must be a whole number from 1 to ${TOP_K - 1} (got ${beams})`);
        if ((prefix.length || draft.length) && beams > 1) throw new RangeError('a prefix or a draft is for greedy decoding only');
        if (keyterms.length) return this.biased(start, beams, maxTokens, prefix, draft, keyterms, forks, signal);
        const best = beams === 1 ? await this.greedy(start, maxTokens, prefix, draft, signal) : await this.beamSearch(start, beams, maxTokens, signal);
        if (beams === 1 && !prefix.length && !draft.length) decoded = best;
        return { text: decodeTokens(best.tokens), tokens: best.tokens, score: { logProb: best.logProb, tokens: best.tokens.length + 1 } };
      },
      score: (tokens) => this.forced(this.resumed(start, decoded, tokens), tokens, signal),
    };
  }

  /**
   * One decoder step after `d`'s last token, or after all of `ids` (in one call where the graph takes several): what
   * `fetch` asks for about the next token, and `d`'s cache extended by those tokens.
   */
  private async advance(d: Decoding, fetch: string[], signal?: AbortSignal, ids = [d.last], projectFrom = LAST_ONLY): Promise<{ out: ort.InferenceSession.OnnxValueMapType; cache: Cache }> {
    if (ids.length > 1 && !this.prefill) {
      for (const id of ids.slice(0, -1)) d = { ...d, cache: (await this.advance(d, this.topFetch, signal, [id])).cache };
      return this.advance(d, fetch, signal, ids.slice(-1));
    }
    if (signal?.aborted) throw abortError();
    const feeds: Cache = { ...d.cache, input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, ids.length]) };
    if (this.prefill) feeds[PROJECT_FROM] = projectFrom;
    const out = await this.step.run(feeds, fetch);
    const cache: Cache = { ...d.cache };
    for (const [present, past] of this.selfCache) cache[past] = out[present] as ort.Tensor;
    return { out, cache };
  }

  /**
   * `prefix`, then the most likely token at each step, until the end token or the cap. A `draft` (tokens expected
   * after the prefix) is read in the prefix's call where the graph takes several tokens (speculative decoding, the
   * draft being the previous partial): the model's own choice after each of its positions comes back from that call,
   * the draft is kept as far as it agrees, and the first choice it does not make is the next token, without a decoder
   * step each for the tokens it had right. The same tokens as without a draft up to rounding: the int8 layers quantize
   * a call's activations together, so a near tie can go the other way (3 of 63 partials on the fixtures, with the
   * same last-partial WER).
   */
  private async greedy(start: Decoding, maxTokens: number, prefix: number[], draft: number[], signal?: AbortSignal): Promise<Decoding> {
    const steps: number[] = [];
    const d: Decoding = { ...start, tokens: [...prefix], steps }; // one hypothesis: extended in place
    let ids = [start.last, ...prefix];
    if (this.prefill && draft.length && d.tokens.length < maxTokens) {
      const checked = draft.slice(0, maxTokens - d.tokens.length);
      const read = ids.length + checked.length;
      const { out, cache } = await this.advance(d, this.topFetch, signal, [...ids, ...checked], new ort.Tensor('int64', BigInt64Array.of(BigInt(ids.length - 1)), [1]));
      const choices = out[TOP_TOKENS]!.data as BigInt64Array;
      const logProbs = out[TOP_LOGPROBS]!.data as Float32Array;
      // Position i's choice follows ids plus checked[0..i); its TOP_K candidates, best first, are row i.
      let agreed = 0;
      for (; ; agreed++) {
        const choice = Number(choices[agreed * TOP_K]);
        const logProb = logProbs[agreed * TOP_K]!;
        d.logProb += logProb;
        if (choice === END_TOKEN) return d;
        d.tokens.push(choice);
        steps.push(logProb);
        if (d.tokens.length >= maxTokens) return d;
        if (agreed === checked.length || choice !== checked[agreed]) break;
      }
      d.last = d.tokens[d.tokens.length - 1]!;
      d.cache = agreed === checked.length ? cache : truncatedCache(cache, this.selfCache, ids.length + agreed, read);
      ids = [d.last];
    }
    for (; d.tokens.length < maxTokens; ids = [d.last]) {
      const { out, cache } = await this.advance(d, this.topFetch, signal, ids);
      const next = Number((out[TOP_TOKENS]!.data as BigInt64Array)[0]);
      const logProb = (out[TOP_LOGPROBS]!.data as Float32Array)[0]!;
      d.logProb += logProb;
      if (next === END_TOKEN) break;
      d.tokens.push(next);
      steps.push(logProb);
      d.last = next;
      d.cache = cache;
    }
    return d;
  }

  /**
   * Keeps the `width` most likely hypotheses at each step, each decoded as its own batch-1 call (the step graph is
   * pinned to batch 1 for speed: see moonshine-graph.ts). A hypothesis leaves the beam when it ends; the search stops
   * once `width` have ended, and the best by mean log-probability per token wins (a sum alone favours short ones).
   */
  private async beamSearch(start: Decoding, width: number, maxTokens: number, signal?: AbortSignal): Promise<Decoding> {
    let alive = [start];
    const ended: Decoding[] = [];
    for (let step = 0; step < maxTokens && alive.length && ended.length < width; step++) {
      const candidates: Array<{ from: Decoding; cache: Cache; token: number; logProb: number }> = [];
      for (const d of alive) {
        const { out, cache } = await this.advance(d, this.topFetch, signal);
        const tokens = out[TOP_TOKENS]!.data as BigInt64Array;
        const logProbs = out[TOP_LOGPROBS]!.data as Float32Array;
        for (let k = 0; k <= width; k++) candidates.push({ from: d, cache, token: Number(tokens[k]), logProb: d.logProb + logProbs[k]! });
      }
      candidates.sort((a, b) => b.logProb - a.logProb);
      alive = [];
      for (const c of candidates.slice(0, width)) {
        if (c.token === END_TOKEN) ended.push({ ...c.from, logProb: c.logProb });
        else alive.push({ tokens: [...c.from.tokens, c.token], logProb: c.logProb, last: c.token, cache: c.cache });
      }
    }
    const perToken = (d: Decoding) => d.logProb / (d.tokens.length + 1);
    return [...ended, ...alive].reduce((a, b) => (perToken(b) > perToken(a) ? b : a));
  }

  /** decode() under a keyterm bias (biased-decoding.ts); the score is the model's, without the bonus. */
  private async biased(start: Decoding, beams: number, maxTokens: number, prefix: number[], draft: number[], keyterms: BiasPhrase[], forks: number, signal?: AbortSignal): Promise<Hypothesis> {
    const graph = new ContextGraph(keyterms);
    const step = async (d: BiasedDecoding<Cache>, ids?: number[]) => {
      const { out, cache } = await this.advance(d, this.topFetch, signal, ids);
      return { top: out[TOP_TOKENS]!.data as BigInt64Array, logProbs: out[TOP_LOGPROBS]!.data as Float32Array, cache };
    };
    const search = { graph, step, endToken: END_TOKEN, maxTokens };
    const first = biasedStart(graph, start, prefix);
    const ids = [start.last, ...prefix];
    const checked = draft.slice(0, maxTokens - prefix.length);
    let best: BiasedDecoding<Cache>;
    if (beams > 1) best = await biasedBeam(search, first, beams);
    else if (!this.prefill || !checked.length || forks) best = await biasedGreedy(search, first, forks, prefix.length ? ids : []);
    else {
      // A partial's draft, checked in the prefix's call as greedy() checks one, by the biased choice.
      const { out, cache } = await this.advance(start, this.topFetch, signal, [...ids, ...checked], new ort.Tensor('int64', BigInt64Array.of(BigInt(ids.length - 1)), [1]));
      const kept = biasedDraft(search, first, checked, out[TOP_TOKENS]!.data as BigInt64Array, out[TOP_LOGPROBS]!.data as Float32Array, TOP_K);
      kept.d.cache = kept.agreed === checked.length ? cache : truncatedCache(cache, this.selfCache, ids.length + kept.agreed, ids.length + checked.length);
      best = kept.done ? kept.d : await biasedGreedy(search, kept.d, 0);
    }
    return { text: decodeTokens(best.tokens), tokens: best.tokens, score: { logProb: best.logProb, tokens: best.tokens.length - prefix.length + 1 }, keyterms: best.matches };
  }

  /**
   * Where forced decoding of `tokens` may start: after the tokens they share with a greedy decode of the same audio,
   * whose step log-probabilities and cache (cut back to those tokens) are what forced decoding would compute for them.
   * A cross-check's two hypotheses mostly differ in a word or two, so scoring one costs the steps after the first
   * difference instead of all of them.
   */
  private resumed(start: Decoding, decoded: Decoding | undefined, tokens: number[]): Decoding {
    if (!decoded?.steps) return start;
    let shared = 0;
    while (shared < decoded.tokens.length && tokens[shared] === decoded.tokens[shared]) shared++;
    if (shared === 0) return start;
    // Summed in the order forced decoding sums them, so the score is the same to the bit.
    const logProb = decoded.steps.slice(0, shared).reduce((sum, p) => sum + p, 0);
    // decoded.cache holds START and every token but the last; resuming after `shared` tokens needs START and the first shared − 1.
    const cache = truncatedCache(decoded.cache, this.selfCache, shared, decoded.tokens.length);
    return { tokens: tokens.slice(0, shared), logProb, last: tokens[shared - 1]!, cache };
  }

  /** Log-probability of `tokens` then the end token under this model (forced decoding), from `from` on. */
  private async forced(from: Decoding, tokens: number[], signal?: AbortSignal): Promise<SequenceScore> {
    let d = from;
    for (const token of [...tokens.slice(from.tokens.length), END_TOKEN]) {
      const { out, cache } = await this.advance(d, this.scoreFetch, signal);
      d = { tokens: d.tokens, logProb: d.logProb + (out[LOGPROBS]!.data as Float32Array)[token]!, last: token, cache };
    }
    return { logProb: d.logProb, tokens: tokens.length + 1 };
  }

  async dispose(): Promise<void> {
    await Promise.all([this.encoder.release(), this.crossKv.release(), this.step.release()]);
  }
}

/** For the prefill graph's PROJECT_FROM: only the last position's next token. */
const LAST_ONLY = new ort.Tensor('int64', BigInt64Array.of(-1n), [1]);

/** `cache`'s self-attention entries ([1, heads, `read` positions, head size]) cut to their first `keep` positions. */
function truncatedCache(cache: Cache, selfCache: CacheNames, keep: number, read: number): Cache {
  const cut: Cache = { ...cache };
  for (const [, past] of selfCache) {
    const full = cache[past]!;
    const [, heads, , size] = full.dims as number[];
    const data = full.data as Float32Array;
    const kept = new Float32Array(heads! * keep * size!);
    for (let h = 0; h < heads!; h++) kept.set(data.subarray(h * read * size!, (h * read + keep) * size!), h * keep * size!);
    cut[past] = new ort.Tensor('float32', kept, [1, heads!, keep, size!]);
  }
  return cut;
}

function createSession(model: string | Uint8Array, options: ort.InferenceSession.SessionOptions): Promise<ort.InferenceSession> {
  return typeof model === 'string' ? ort.InferenceSession.create(model, options) : ort.InferenceSession.create(model, options);
}

/** Audio encoded once (MoonshineEngine.encode). */
export interface EncodedAudio {
  /**
   * The model's hypothesis: greedy (1) or beam search, greedy optionally after a given prefix and checking a draft
   * (TranscribeOptions); its score includes the end token (absent when the token cap cut it) and not the prefix.
   */
  decode(beams?: number, prefix?: number[], draft?: number[], keyterms?: BiasPhrase[], keytermForks?: number): Promise<Hypothesis>;
  /** Log-probability of `tokens` followed by the end token (forced decoding). */
  score(tokens: number[]): Promise<SequenceScore>;
}

export type Hypothesis = Required<Pick<Transcript, 'text' | 'tokens' | 'score'>> & Pick<Transcript, 'keyterms'>;

/** Under 0.1 s of audio: no text, and any other text impossible. */
const SILENCE: EncodedAudio = {
  decode: async () => ({ text: '', tokens: [], score: { logProb: 0, tokens: 1 } }),
  score: async (tokens) => ({ logProb: tokens.length ? -Infinity : 0, tokens: tokens.length + 1 }),
};

type CacheNames = [present: string, past: string][];
/** Decoder inputs by name: the cross-attention cache and the self-attention cache so far. */
type Cache = Record<string, ort.Tensor>;

/** A hypothesis in progress: its tokens, their summed log-probability, and the cache after all but `last`. */
interface Decoding {
  tokens: number[];
  logProb: number;
  last: number;
  cache: Cache;
  /** Greedy only: each token's log-probability, in order. */
  steps?: number[];
}

function cacheNames(layers: number, half: 'encoder' | 'decoder'): CacheNames {
  return Array.from({ length: layers }, (_, layer) => ['key', 'value'].map((kind): [string, string] => [`present.${layer}.${half}.${kind}`, `past_key_values.${layer}.${half}.${kind}`])).flat();
}
