import type { ContextGraph, ContextState } from './context-graph.ts';

/**
 * Decoding under a keyterm bias (context-graph.ts): each token is chosen by its log-probability plus the bonus the
 * graph gives it. Two searches, measured against each other in docs/decisions/keyterms-search.md:
 * - greedy with rescoring: one biased greedy pass; where the bias picks another token than the model would, the
 *   model's own choice is kept as a fork, decoded on (biased) after the first pass where needed (biasedGreedy). The
 *   hypotheses are then rescored with the bonus of completed keyterms only, so a keyterm begun and abandoned gains
 *   nothing and the model's own words win again;
 * - a beam of `width` hypotheses ranked by log-probability plus bonus so far.
 */

/** One decoder step after a hypothesis (and `ids`, where given: the prefix): the model's best tokens, best first. */
export type BiasStep<C> = (from: BiasedDecoding<C>, ids?: number[]) => Promise<{ top: BigInt64Array; logProbs: Float32Array; cache: C }>;

export interface BiasedDecoding<C> {
  tokens: number[];
  logProb: number;
  last: number;
  cache: C;
  state: ContextState;
  /** Bonus earned so far, the open match's included. */
  bonus: number;
  matches: number;
}

interface Search<C> {
  graph: ContextGraph;
  step: BiasStep<C>;
  endToken: number;
  maxTokens: number;
}

/** The hypothesis after `prefix` (its tokens' bonus counted; their log-probabilities are not part of the score). */
export function biasedStart<C>(graph: ContextGraph, start: { last: number; cache: C }, prefix: number[]): BiasedDecoding<C> {
  let state = graph.root;
  let bonus = 0;
  for (const token of prefix) {
    const step = graph.step(state, token);
    state = step.state;
    bonus += step.delta;
  }
  return { tokens: [...prefix], logProb: 0, last: prefix.at(-1) ?? start.last, cache: start.cache, state, bonus, matches: 0 };
}

/** Log-probability plus the bonus kept: the open match given back, per token (end token included). */
function total<C>(graph: ContextGraph, d: BiasedDecoding<C>, prefix: number): number {
  return (d.logProb + d.bonus + graph.finalScore(d.state)) / (d.tokens.length - prefix + 1);
}

interface Choice {
  token: number;
  logProb: number;
  delta: number;
  state: ContextState;
  matched: boolean;
}

/**
 * The `count` best next tokens by log-probability plus bonus, among the model's own best (TOP_K): the bias reorders
 * what the model finds plausible and never brings in a token it does not (measured: bringing in any token the graph
 * could extend looped keyterms at bonus 4, "Hearts. Hearts. …"; docs/decisions/keyterms-search.md).
 */
function choices<C>({ graph, endToken }: Search<C>, d: BiasedDecoding<C>, top: BigInt64Array, logProbs: Float32Array, count: number): Choice[] {
  const all: Choice[] = [];
  for (let k = 0; k < top.length; k++) {
    const token = Number(top[k]);
    const step = token === endToken ? { state: graph.root, delta: graph.finalScore(d.state), matched: false } : graph.step(d.state, token);
    all.push({ token, logProb: logProbs[k]!, ...step });
    // Nor does it carry on a hypothesis the model would end with no keyterm open: no keyterm looped after the text.
    if (k === 0 && token === endToken && d.state === graph.root) return all;
  }
  const value = (c: Choice) => c.logProb + c.delta;
  if (count === 1) return [all.reduce((a, b) => (value(b) > value(a) ? b : a))];
  return all.sort((a, b) => value(b) - value(a)).slice(0, count);
}

/** `d` ended by the end token `c` (the open match given back). */
function ended<C>(graph: ContextGraph, d: BiasedDecoding<C>, c: Choice): BiasedDecoding<C> {
  return { ...d, logProb: d.logProb + c.logProb, bonus: d.bonus + c.delta, state: graph.root };
}

function extend<C>(d: BiasedDecoding<C>, c: Choice, cache: C): BiasedDecoding<C> {
  return { tokens: [...d.tokens, c.token], logProb: d.logProb + c.logProb, last: c.token, cache, state: c.state, bonus: d.bonus + c.delta, matches: d.matches + (c.matched ? 1 : 0) };
}

/**
 * Biased greedy decoding with rescoring. Where the bias begins a keyterm the model would not have begun, the model's
 * own token is kept as a fork. A fork is decoded only where the pass it left gave bonus back afterwards (a keyterm
 * begun and abandoned, or open at the end): where every keyterm it began was completed, the bias chose tokens the
 * model itself ranked among its best and the keyterm stands. At most `forks` are decoded, in the order they arose.
 */
export async function biasedGreedy<C>(search: Search<C>, first: BiasedDecoding<C>, forks: number, prefixIds: number[] = []): Promise<BiasedDecoding<C>> {
  const prefix = first.tokens.length;
  const done: BiasedDecoding<C>[] = [];
  const waiting: Array<{ d: BiasedDecoding<C>; parent: { gaveBack: number }; since: number }> = [];
  const decodePass = async (d: BiasedDecoding<C>, ids?: number[]) => {
    const pass = { gaveBack: 0 };
    for (; d.tokens.length < search.maxTokens; ids = undefined) {
      const { top, logProbs, cache } = await search.step(d, ids);
      const options = choices(search, d, top, logProbs, top.length);
      const best = options[0]!;
      const own = options.find((c) => c.token === Number(top[0]))!;
      // Only where the bias begins a match: the model's own choice there is the hypothesis without that keyterm.
      if (best.token !== own.token && d.state === search.graph.root) {
        if (own.token === search.endToken) done.push(ended(search.graph, d, own));
        else waiting.push({ d: extend(d, own, cache), parent: pass, since: pass.gaveBack });
      }
      if (best.delta < 0) pass.gaveBack++;
      if (best.token === search.endToken) return void done.push(ended(search.graph, d, best));
      d = extend(d, best, cache);
    }
    done.push(d);
  };
  await decodePass(first, prefixIds.length ? prefixIds : undefined);
  for (const fork of waiting) {
    if (forks > 0 && fork.parent.gaveBack > fork.since) {
      forks--;
      await decodePass(fork.d);
    }
  }
  return done.reduce((a, b) => (total(search.graph, b, prefix) > total(search.graph, a, prefix) ? b : a));
}

/**
 * A draft checked in one call (a partial's: the model's `k` best tokens after each position of prefix + draft, row by
 * row): kept as far as the biased choice agrees with it, then the first biased choice it does not make, as the
 * unbiased greedy decoder checks one (moonshine-engine.ts). `agreed`: draft tokens kept; `done`: the hypothesis ended
 * (the end token or the cap). The decoding's cache is `first`'s: the caller cuts the call's to what was kept.
 */
export function biasedDraft<C>(search: Search<C>, first: BiasedDecoding<C>, draft: number[], top: BigInt64Array, logProbs: Float32Array, k: number): { d: BiasedDecoding<C>; agreed: number; done: boolean } {
  let d = first;
  for (let agreed = 0; ; agreed++) {
    const [c] = choices(search, d, top.subarray(agreed * k, (agreed + 1) * k), logProbs.subarray(agreed * k, (agreed + 1) * k), 1);
    if (c!.token === search.endToken) return { d: ended(search.graph, d, c!), agreed, done: true };
    d = extend(d, c!, d.cache);
    if (d.tokens.length >= search.maxTokens) return { d, agreed, done: true };
    if (agreed === draft.length || c!.token !== draft[agreed]) return { d, agreed, done: false };
  }
}

export async function biasedBeam<C>(search: Search<C>, first: BiasedDecoding<C>, width: number): Promise<BiasedDecoding<C>> {
  let alive = [first];
  const ended: BiasedDecoding<C>[] = [];
  const rank = (d: BiasedDecoding<C>) => d.logProb + d.bonus;
  for (let n = 0; n < search.maxTokens && alive.length && ended.length < width; n++) {
    const next: Array<{ from: BiasedDecoding<C>; c: Choice; cache: C }> = [];
    for (const d of alive) {
      const { top, logProbs, cache } = await search.step(d);
      for (const c of choices(search, d, top, logProbs, width + 1)) next.push({ from: d, c, cache });
    }
    next.sort((a, b) => rank(b.from) + b.c.logProb + b.c.delta - (rank(a.from) + a.c.logProb + a.c.delta));
    alive = [];
    for (const { from, c, cache } of next.slice(0, width)) {
      if (c.token === search.endToken) ended.push({ ...from, logProb: from.logProb + c.logProb, bonus: from.bonus + c.delta, state: search.graph.root });
      else alive.push(extend(from, c, cache));
    }
  }
  return [...ended, ...alive].reduce((a, b) => (total(search.graph, b, 0) > total(search.graph, a, 0) ? b : a));
}
