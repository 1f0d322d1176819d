/**
 * Contextual biasing toward keyterms, after icefall's / sherpa-onnx's context graph: an Aho-Corasick trie over the
 * keyterms' token sequences. A token that extends a match earns its keyterm's bonus; a match abandoned half way takes
 * back what it earned (the next state is the longest suffix of the path that is still a keyterm's prefix, and the
 * score moves to that state's), and so does one still open when the hypothesis ends (finalScore), so half a keyterm
 * is never favoured over the model's own words. A completed keyterm keeps its bonus and matching starts afresh.
 */

/** One spelling of a keyterm, as token ids, and the bonus (log-probability) each of its tokens earns. */
export interface BiasPhrase {
  tokens: number[];
  bonus: number;
}

export interface ContextState {
  /** Bonus earned by the open match (the path from the root). */
  score: number;
  /** A keyterm ends here. */
  end: boolean;
  readonly next: Map<number, ContextState>;
  fail?: ContextState;
}

export interface ContextStep {
  state: ContextState;
  /** Bonus this token earns (negative where it abandons a match). */
  delta: number;
  /** It completed a keyterm. */
  matched: boolean;
}

export class ContextGraph {
  readonly root: ContextState = node(0);

  constructor(phrases: BiasPhrase[]) {
    for (const { tokens, bonus } of phrases) {
      let state = this.root;
      tokens.forEach((token, i) => {
        let child = state.next.get(token);
        if (!child) state.next.set(token, (child = node(state.score + bonus)));
        // Spellings of two keyterms sharing a prefix: the larger bonus (a state has one score).
        else child.score = Math.max(child.score, state.score + bonus);
        if (i === tokens.length - 1) child.end = true;
        state = child;
      });
    }
    this.link();
  }

  /** Breadth first: each state's fail is the longest proper suffix of its path that is a prefix in the trie. */
  private link(): void {
    const queue: ContextState[] = [];
    for (const child of this.root.next.values()) {
      child.fail = this.root;
      queue.push(child);
    }
    for (let i = 0; i < queue.length; i++) {
      const state = queue[i]!;
      for (const [token, child] of state.next) {
        child.fail = this.goto(state.fail!, token);
        queue.push(child);
      }
    }
  }

  private goto(from: ContextState, token: number): ContextState {
    for (let s: ContextState | undefined = from; s; s = s.fail) {
      const to = s.next.get(token);
      if (to) return to;
    }
    return this.root;
  }

  step(from: ContextState, token: number): ContextStep {
    const to = this.goto(from, token);
    const delta = to.score - from.score;
    return to.end ? { state: this.root, delta, matched: true } : { state: to, delta, matched: false };
  }

  /** What a hypothesis ending in `state` gives back: its open match's bonus. */
  finalScore(state: ContextState): number {
    return -state.score;
  }

  /** Bonus a whole token sequence earns (open match given back) and the keyterms it completes. */
  score(tokens: number[], from = this.root): { bonus: number; matches: number } {
    let state = from;
    let bonus = 0;
    let matches = 0;
    for (const token of tokens) {
      const step = this.step(state, token);
      bonus += step.delta;
      if (step.matched) matches++;
      state = step.state;
    }
    return { bonus: bonus + this.finalScore(state), matches };
  }
}

function node(score: number): ContextState {
  return { score, end: false, next: new Map() };
}
