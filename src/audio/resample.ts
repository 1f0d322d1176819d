// Band-limited sample-rate conversion (Kaiser-windowed sinc, polyphase), streaming and one-shot.

// Filter design. Cutoff sits at ROLLOFF x the lower Nyquist frequency; with 24 zero crossings
// and beta 8.6 the Kaiser transition band ends at about that Nyquist frequency with ~80 dB
// stopband, so e.g. 48k->16k passes speech flat to ~6.5 kHz and aliases nothing audible.
const ZERO_CROSSINGS = 24;
const ROLLOFF = 0.9;
const KAISER_BETA = 8.6;
// Rate pairs whose reduced ratio needs more phases than this (e.g. 44100->16001) share this many
// phases; rounding the fractional position to 1/4096 of an input sample costs < -70 dB of error.
const MAX_PHASES = 4096;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

// Modified Bessel function of the first kind, order 0 (series converges fast for beta < 20).
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; term > sum * 1e-12; k++) {
    term *= q / (k * k);
    sum += term;
  }
  return sum;
}

// Tables depend only on the rate pair; connections at the same rate share one. Least recently
// used first out, bounded in bytes: rates come from clients, and an odd pair's table (192001 ->
// 16000: 4097 phases x 642 taps) is 10.5 MB and ~0.2 s of CPU to build, so one of those fits.
const tableCache = new Map<string, Float32Array>();
const TABLE_CACHE_BYTES = 16 * 1024 * 1024;
let cachedBytes = 0;

interface FilterDesign {
  phases: number;
  halfTaps: number;
  cutoff: number;
  radius: number;
}

function design(fromRate: number, toRate: number): FilterDesign {
  // Cutoff in cycles per input sample, times two: 1 = input Nyquist.
  const cutoff = ROLLOFF * Math.min(1, toRate / fromRate);
  const radius = ZERO_CROSSINGS / cutoff; // kernel half-width in input samples
  // Taps cover input samples base-halfTaps+1 .. base+halfTaps, enough for any fraction in [0, 1].
  const halfTaps = Math.floor(radius) + 1;
  return { phases: Math.min(toRate / gcd(fromRate, toRate), MAX_PHASES), halfTaps, cutoff, radius };
}

function cachedTable(key: string): Float32Array | undefined {
  const table = tableCache.get(key);
  if (table !== undefined) {
    tableCache.delete(key); // re-inserted: most recently used
    tableCache.set(key, table);
  }
  return table;
}

function cacheTable(key: string, table: Float32Array): void {
  if (tableCache.has(key)) return;
  while (tableCache.size > 0 && cachedBytes + table.byteLength > TABLE_CACHE_BYTES) {
    const [oldest, old] = tableCache.entries().next().value as [string, Float32Array];
    tableCache.delete(oldest);
    cachedBytes -= old.byteLength;
  }
  tableCache.set(key, table);
  cachedBytes += table.byteLength;
}

// Coefficients per slice when a table is built in the background (about 1 ms of CPU on this machine).
const COEFFICIENTS_PER_SLICE = 8192;

// Fills rows from..to-1 of a table of (phases + 1) rows of 2 * halfTaps coefficients; row q is for
// fractional position q / phases.
function fillRows(table: Float32Array, d: FilterDesign, from: number, to: number): void {
  const { phases, halfTaps, cutoff, radius } = d;
  const taps = 2 * halfTaps;
  const i0Beta = besselI0(KAISER_BETA);
  for (let q = from; q < to; q++) {
    const row = q * taps;
    let sum = 0;
    for (let j = 0; j < taps; j++) {
      const t = q / phases + halfTaps - 1 - j; // distance from output position to tap, in input samples
      if (Math.abs(t) >= radius) continue;
      const x = Math.PI * cutoff * t;
      const sinc = x === 0 ? 1 : Math.sin(x) / x;
      const r = t / radius;
      const h = sinc * (besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0Beta);
      table[row + j] = h;
      sum += h;
    }
    // Unit DC gain per phase, otherwise gain would ripple with the phase and add tones.
    for (let j = 0; j < taps; j++) table[row + j] /= sum;
  }
}

function filterTable(fromRate: number, toRate: number, d: FilterDesign): Float32Array {
  const key = `${fromRate}:${toRate}`;
  const cached = cachedTable(key);
  if (cached !== undefined) return cached;
  const table = new Float32Array((d.phases + 1) * 2 * d.halfTaps);
  fillRows(table, d, 0, d.phases + 1);
  cacheTable(key, table);
  return table;
}

const building = new Map<string, Promise<void>>();

/**
 * Builds the filter for a rate pair in slices between other work (a large table takes ~0.2 s of CPU, which in
 * one piece would stall every other connection), and caches it: a StreamingResampler made for the pair right
 * after this resolves finds its table ready.
 */
export function prepareResampler(fromRate: number, toRate: number): Promise<void> {
  if (fromRate === toRate) return Promise.resolve();
  const key = `${fromRate}:${toRate}`;
  if (cachedTable(key) !== undefined) return Promise.resolve();
  let pending = building.get(key);
  if (pending) return pending;
  const d = design(fromRate, toRate);
  const table = new Float32Array((d.phases + 1) * 2 * d.halfTaps);
  pending = (async () => {
    try {
      const rows = Math.max(1, Math.floor(COEFFICIENTS_PER_SLICE / (2 * d.halfTaps)));
      for (let q = 0; q <= d.phases; q += rows) {
        fillRows(table, d, q, Math.min(q + rows, d.phases + 1));
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      cacheTable(key, table);
    } finally {
      building.delete(key);
    }
  })();
  building.set(key, pending);
  return pending;
}

/**
 * Converts a stream of samples from one rate to another. Output sample k is the band-limited
 * input signal evaluated at time k / toRate (input sample n is at n / fromRate, silence before
 * 0), so output lines up with input: there is no delay to compensate downstream. The price is
 * latency: an output is emitted only once `halfTaps` input samples past its position have
 * arrived (about 1.7 ms at 48k->16k); flush() supplies trailing silence and emits the rest,
 * for ceil(inputLength * toRate / fromRate) outputs in all.
 *
 * Chunking never changes the result: every output is computed from the same samples with the
 * same coefficients in the same order, so any split of the input gives bit-identical output.
 */
export class StreamingResampler {
  readonly fromRate: number;
  readonly toRate: number;
  /** Input samples held back per output (see class comment); 0 when rates are equal. */
  readonly halfTaps: number;
  // Reduced ratio: output k sits at input position k * down / up.
  private readonly up: number;
  private readonly down: number;
  private readonly taps: number;
  private readonly phases: number;
  // See filterTable.
  private readonly table: Float32Array;

  // Input history; history[0] is absolute input index `historyStart`.
  private history: Float32Array;
  private historyLength = 0;
  private historyStart = 0;
  private inputCount = 0;
  // Next output index and its input position as integer part `base` plus `frac` / up.
  private outIndex = 0;
  private base = 0;
  private frac = 0;

  constructor(fromRate: number, toRate: number) {
    for (const rate of [fromRate, toRate]) {
      if (!Number.isInteger(rate) || rate <= 0) throw new RangeError(`sample rate must be a positive integer, got ${rate}`);
    }
    this.fromRate = fromRate;
    this.toRate = toRate;
    const g = gcd(fromRate, toRate);
    this.up = toRate / g;
    this.down = fromRate / g;
    if (fromRate === toRate) {
      this.halfTaps = this.taps = this.phases = 0;
      this.table = this.history = new Float32Array(0);
      return;
    }
    const d = design(fromRate, toRate);
    this.halfTaps = d.halfTaps;
    this.taps = 2 * this.halfTaps;
    this.phases = d.phases;
    this.table = filterTable(fromRate, toRate, d);
    this.history = new Float32Array(Math.max(4096, 2 * this.taps));
    this.reset();
  }

  /**
   * Consumes `input` and returns every output sample it completes, as a new array.
   * When fromRate === toRate, `input` itself is returned (no copy).
   */
  process(input: Float32Array): Float32Array {
    if (this.taps === 0) return input;
    this.append(input, input.length);
    // Outputs whose last tap, base + halfTaps, has arrived.
    return this.produce(this.outputsBefore(this.inputCount - this.halfTaps));
  }

  /** Emits the outputs still held back, as if silence followed, and readies for a new stream. */
  flush(): Float32Array {
    if (this.taps === 0) return new Float32Array(0);
    const total = this.outputsBefore(this.inputCount);
    this.append(null, this.halfTaps);
    const out = this.produce(total);
    this.reset();
    return out;
  }

  /** Forgets all input, e.g. between utterances or after a client reconnects. */
  reset(): void {
    if (this.taps === 0) return;
    // Taps before input sample 0 read the silence that precedes the stream.
    this.historyLength = this.halfTaps - 1;
    this.history.fill(0, 0, this.historyLength);
    this.historyStart = -this.historyLength;
    this.inputCount = 0;
    this.outIndex = 0;
    this.base = 0;
    this.frac = 0;
  }

  // Number of outputs whose position k * down / up is below input index `limit`.
  private outputsBefore(limit: number): number {
    return limit <= 0 ? 0 : Math.floor((limit * this.up - 1) / this.down) + 1;
  }

  // Appends `count` samples of `input`, or of silence when input is null.
  private append(input: Float32Array | null, count: number): void {
    const needed = this.historyLength + count;
    if (needed > this.history.length) {
      const grown = new Float32Array(Math.max(needed, this.history.length * 2));
      grown.set(this.history.subarray(0, this.historyLength));
      this.history = grown;
    }
    if (input === null) this.history.fill(0, this.historyLength, needed);
    else this.history.set(input, this.historyLength);
    this.historyLength = needed;
    if (input !== null) this.inputCount += count;
  }

  // Computes outputs outIndex .. end-1, then drops history no later output can reach.
  private produce(end: number): Float32Array {
    const out = new Float32Array(Math.max(0, end - this.outIndex));
    const { history, table, taps, up, phases } = this;
    const stepWhole = Math.floor(this.down / up);
    const stepFrac = this.down % up;
    const phaseScale = phases / up;
    let { base, frac } = this;
    for (let i = 0; i < out.length; i++) {
      const row = Math.round(frac * phaseScale) * taps;
      const first = base - this.halfTaps + 1 - this.historyStart;
      let acc = 0;
      for (let j = 0; j < taps; j++) acc += history[first + j] * table[row + j];
      out[i] = acc;
      base += stepWhole;
      frac += stepFrac;
      if (frac >= up) {
        frac -= up;
        base++;
      }
    }
    this.base = base;
    this.frac = frac;
    this.outIndex += out.length;
    const drop = base - this.halfTaps + 1 - this.historyStart;
    history.copyWithin(0, drop, this.historyLength);
    this.historyLength -= drop;
    this.historyStart += drop;
    return out;
  }
}

/** Resamples a whole signal; returns `samples` itself when the rates are equal. */
export function resample(samples: Float32Array, fromRate: number, toRate: number): Float32Array {
  const resampler = new StreamingResampler(fromRate, toRate);
  const body = resampler.process(samples);
  const tail = resampler.flush();
  if (tail.length === 0) return body;
  const out = new Float32Array(body.length + tail.length);
  out.set(body);
  out.set(tail, body.length);
  return out;
}
