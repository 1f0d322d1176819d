/**
 * The live preview's text: the stabilized prefix (stt_stabilized, only grows) and the unstable tail of the newest
 * hypothesis (stt_update). Pure; the chat view renders the two parts in separate spans.
 */
export interface PreviewParts {
  stable: string;
  unstable: string;
}

function words(text: string): string[] {
  return text.split(/\s+/).filter(Boolean);
}

/** Words compare without case and punctuation ("Hello," agrees with "hello"), as the server's stabilizer does. */
function key(word: string): string {
  return word.toLowerCase().replace(/[^\p{L}\p{N}']/gu, '');
}

/** Splits the newest hypothesis into the part already stabilized and the tail after it. */
export function splitPreview(stable: string, latest: string): PreviewParts {
  const s = words(stable);
  const l = words(latest);
  let n = 0;
  while (n < s.length && n < l.length && key(s[n]!) === key(l[n]!)) n++;
  // Stable text is never retracted; if the hypothesis disagrees with it, its words past the stable length are the tail.
  const tail = l.slice(n === s.length ? n : s.length);
  return { stable: s.join(' '), unstable: tail.join(' ') };
}

export class PreviewModel {
  private stable = '';
  private latest = '';

  constructor(private readonly stabilizedOnly: boolean) {}

  reset(): void {
    this.stable = '';
    this.latest = '';
  }

  update(text: string): PreviewParts {
    this.latest = text.trim();
    return this.parts();
  }

  stabilize(text: string): PreviewParts {
    this.stable = text.trim();
    return this.parts();
  }

  /** What to show: with `stabilizedOnly`, never the unstable tail. */
  parts(): PreviewParts {
    const p = splitPreview(this.stable, this.latest);
    return this.stabilizedOnly ? { stable: p.stable, unstable: '' } : p;
  }

  /** True when there is something to show. */
  get hasText(): boolean {
    const p = this.parts();
    return p.stable.length > 0 || p.unstable.length > 0;
  }
}
