/**
 * What the next partial's text continues (TranscribeOptions.prefix): the tokens on which the latest partial agrees
 * with one made at least `spanSamples` of audio earlier, less the last one they share (more audio may still change
 * it). As whisper_streaming's local agreement: the text cannot flicker before that point, and a partial reads those
 * tokens in one call instead of one decoder step each. Agreement across a span, not with the partial just before:
 * two partials a tenth of a second apart agree on early mishearings ("I'm less" for "Unless") that more audio fixes.
 * A prefix may end inside a word: the model can still finish it differently ("bell" → "bell" + "s"). Token ids only:
 * the tokenizer is not loaded on the event loop's thread (it costs ~40 MB there).
 */
export class PrefixAgreement {
  private history: Array<{ end: number; tokens: readonly number[] }> = [];
  private agreed: number[] = [];

  constructor(private readonly spanSamples: number) {}

  /** The prefix for the next partial. */
  get prefix(): number[] {
    return this.agreed;
  }

  /** The latest partial's tokens after the prefix: what the next partial will likely read again (TranscribeOptions.draft). */
  get draft(): number[] {
    return this.history.at(-1)?.tokens.slice(this.agreed.length) ?? [];
  }

  /** A partial's tokens, for the audio up to stream sample `end`. */
  push(end: number, tokens: readonly number[]): void {
    const oldEnough = end - this.spanSamples;
    // Keep the latest partial that is old enough (the reference) and the newer ones, which may become it later.
    while (this.history.length > 1 && this.history[1]!.end <= oldEnough) this.history.shift();
    const reference = this.history[0];
    if (reference && reference.end <= oldEnough) this.agreed = commonPrefix(reference.tokens, tokens).slice(0, -1);
    this.history.push({ end, tokens });
  }

  /** Start over: the audio the partials read no longer starts where it did, or a loop was repaired. */
  reset(): void {
    this.history = [];
    this.agreed = [];
  }
}

function commonPrefix(a: readonly number[], b: readonly number[]): number[] {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return b.slice(0, n);
}
