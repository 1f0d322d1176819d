import { ContextGraph } from './context-graph.ts';
import { ASR_SAMPLE_RATE, type AsrEngine, type SequenceScore, type TranscribeOptions, type Transcript } from './engine.ts';
import type { MoonshineEngine } from './moonshine-engine.ts';
import { splitWords } from './words.ts';

/**
 * A final from two models that share a vocabulary (moonshine-base checked by moonshine-tiny). They fail on different
 * inputs (on the noisy dev set base writes "cloves" for "clubs", tiny drops whole sentences in pink noise), so when
 * their hypotheses differ each model scores both, and the hypothesis with the higher summed log-probability per token
 * wins: a sentence both models find likely beats one only its author does. The check model may correct the main
 * model's words but not add to them: a hypothesis with more words is not scored. Under babble it was other talkers'
 * words that tiny added and base found likely (babble 0 dB WER 126 % → 155 % without this rule, 128 % with it;
 * docs/decisions/0004-cross-check-finals.md). Agreeing hypotheses cost only the second decode, a longer one that too. Each
 * audio is encoded once per model. Only when asked (TranscribeOptions.crossCheck): the service asks for finals while
 * the worker has time (cross-check-budget.ts); partials never. Under keyterms both decode with the same bias and both
 * hypotheses are compared with the bonus of the keyterms they complete, so the check never undoes a keyterm.
 */
export class CrossCheckEngine implements AsrEngine {
  readonly name: string;
  readonly maxAudioSeconds: number;

  constructor(
    private readonly main: MoonshineEngine,
    private readonly check: MoonshineEngine,
  ) {
    this.name = main.name;
    this.maxAudioSeconds = Math.min(main.maxAudioSeconds, check.maxAudioSeconds);
  }

  async transcribe(samples: Float32Array, { crossCheck, ...options }: TranscribeOptions = {}): Promise<Transcript> {
    if (!crossCheck) return this.main.transcribe(samples, options);
    const { signal, beams, keyterms = [] } = options;
    const started = performance.now();
    const mainAudio = await this.main.encode(samples, signal);
    const ours = await mainAudio.decode(beams, [], [], keyterms);
    const checkAudio = await this.check.encode(samples, signal);
    const theirs = await checkAudio.decode(1, [], [], keyterms, 0);
    const result = { model: this.name, audioSeconds: samples.length / ASR_SAMPLE_RATE };
    if (sameTokens(ours.tokens, theirs.tokens)) return { ...ours, ...result, crossCheck: 'agreed', processingMs: performance.now() - started };
    if (splitWords(theirs.text).length > splitWords(ours.text).length) return { ...ours, ...result, crossCheck: 'kept', processingMs: performance.now() - started };
    const oursByCheck = await checkAudio.score(ours.tokens);
    const theirsByMain = await mainAudio.score(theirs.tokens);
    const graph = keyterms.length ? new ContextGraph(keyterms) : undefined;
    const bonus = (tokens: number[]) => graph?.score(tokens).bonus ?? 0;
    const replaced = perToken(theirs.score, theirsByMain, bonus(theirs.tokens)) > perToken(ours.score, oursByCheck, bonus(ours.tokens));
    return { ...(replaced ? theirs : ours), ...result, crossCheck: replaced ? 'replaced' : 'kept', processingMs: performance.now() - started };
  }

  /** The two engines belong to whoever loaded them (a worker may also run either alone). */
  async dispose(): Promise<void> {}
}

/** Both models' log-probabilities of one hypothesis, each with its keyterm bonus, per token (end token included). */
function perToken(a: SequenceScore, b: SequenceScore, bonus: number): number {
  return (a.logProb + b.logProb + 2 * bonus) / a.tokens;
}

function sameTokens(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((t, i) => t === b[i]);
}
