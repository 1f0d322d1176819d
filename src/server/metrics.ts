/**
 * A small Prometheus registry with the text exposition format (version 0.0.4): counters, gauges and histograms
 * with labels. Enough for /metrics; no dependency.
 */

type Labels = Record<string, string>;

function labelKey(labels: Labels): string {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  return `{${keys.map((k) => `${k}="${escapeLabel(labels[k]!)}"`).join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

interface Metric {
  readonly name: string;
  render(): string;
}

abstract class Base implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {}

  protected header(): string {
    return `# HELP ${this.name} ${this.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n# TYPE ${this.name} ${this.type}\n`;
  }

  abstract render(): string;
}

export class Counter extends Base {
  private readonly values = new Map<string, number>();

  constructor(name: string, help: string, initialLabels: Labels[] = [{}]) {
    super(name, help, 'counter');
    for (const l of initialLabels) this.values.set(labelKey(l), 0);
  }

  inc(labels: Labels = {}, by = 1): void {
    const key = labelKey(labels);
    this.values.set(key, (this.values.get(key) ?? 0) + by);
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels)) ?? 0;
  }

  render(): string {
    let out = this.header();
    for (const [key, value] of this.values) out += `${this.name}${key} ${formatNumber(value)}\n`;
    return out;
  }
}

/** A gauge whose value is either set or read from a callback at scrape time. */
export class Gauge extends Base {
  private readonly values = new Map<string, number>();

  constructor(
    name: string,
    help: string,
    private readonly collect?: () => Array<[Labels, number]> | number,
  ) {
    super(name, help, 'gauge');
  }

  set(value: number, labels: Labels = {}): void {
    this.values.set(labelKey(labels), value);
  }

  render(): string {
    let out = this.header();
    if (this.collect) {
      const got = this.collect();
      const rows: Array<[Labels, number]> = typeof got === 'number' ? [[{}, got]] : got;
      for (const [labels, value] of rows) out += `${this.name}${labelKey(labels)} ${formatNumber(value)}\n`;
    }
    for (const [key, value] of this.values) out += `${this.name}${key} ${formatNumber(value)}\n`;
    return out;
  }
}

export class Histogram extends Base {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(
    name: string,
    help: string,
    private readonly buckets: number[],
  ) {
    super(name, help, 'histogram');
    this.buckets = [...buckets].sort((a, b) => a - b);
  }

  observe(value: number, labels: Labels = {}): void {
    const key = labelKey(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
  }

  render(): string {
    let out = this.header();
    for (const s of this.series.values()) {
      this.buckets.forEach((le, i) => {
        out += `${this.name}_bucket${labelKey({ ...s.labels, le: formatNumber(le) })} ${s.counts[i]}\n`;
      });
      out += `${this.name}_bucket${labelKey({ ...s.labels, le: '+Inf' })} ${s.count}\n`;
      out += `${this.name}_sum${labelKey(s.labels)} ${formatNumber(s.sum)}\n`;
      out += `${this.name}_count${labelKey(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

export class Registry {
  private readonly metrics: Metric[] = [];

  add<M extends Metric>(metric: M): M {
    if (this.metrics.some((m) => m.name === metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    this.metrics.push(metric);
    return metric;
  }

  render(): string {
    return this.metrics.map((m) => m.render()).join('');
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The server's metrics. Collector callbacks read live values (sessions, queue depth, memory) at scrape time. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly utterances: Counter;
  readonly finals: Counter;
  readonly partials: Counter;
  readonly discarded: Counter;
  readonly errors: Counter;
  readonly droppedMessages: Counter;
  readonly inputPauses: Counter;
  readonly connections: Counter;
  readonly refusedUpgrades: Counter;
  readonly httpTranscriptions: Counter;
  readonly finalLatency: Histogram;
  readonly inferenceSeconds: Histogram;
  readonly partialLatency: Histogram;
  readonly audioSeconds: Counter;
  private readonly inferenceTotals = { final: { processing: 0, audio: 0 }, partial: { processing: 0, audio: 0 } };

  constructor(live: { sessions(): number; connections(): number; queueDepth(): number; schedulerStats(): Record<string, number> | undefined }) {
    const r = this.registry;
    r.add(new Gauge('earshot_sessions', 'Listening sessions (WebSocket stt_start cycles and HTTP transcriptions) now.', () => live.sessions()));
    r.add(new Gauge('earshot_connections', 'Open WebSocket connections now.', () => live.connections()));
    this.connections = r.add(new Counter('earshot_connections_total', 'WebSocket connections accepted.'));
    this.refusedUpgrades = r.add(new Counter('earshot_refused_upgrades_total', 'WebSocket upgrades refused, by reason.', []));
    this.utterances = r.add(new Counter('earshot_utterances_total', 'Utterances ended by the recorder (each yields a final or a discard).'));
    this.finals = r.add(new Counter('earshot_finals_total', 'Final transcripts delivered.'));
    this.partials = r.add(new Counter('earshot_partials_total', 'Realtime partial transcripts (stt_update) produced.'));
    this.discarded = r.add(new Counter('earshot_discarded_total', 'Utterances dropped without a final, by reason.', []));
    this.errors = r.add(new Counter('earshot_errors_total', 'stt_error messages and HTTP API errors, by code.', []));
    this.droppedMessages = r.add(new Counter('earshot_dropped_messages_total', 'stt_update/stt_stabilized not sent to slow readers.'));
    this.inputPauses = r.add(new Counter('earshot_input_pauses_total', 'Times a client sending audio faster than it is processed was paused (backpressure).'));
    this.httpTranscriptions = r.add(new Counter('earshot_http_transcriptions_total', 'POST /v1/audio/transcriptions answered, by status.', []));
    r.add(new Gauge('earshot_inference_queue_depth', 'Inference jobs waiting in the shared scheduler.', () => live.queueDepth()));
    r.add(
      new Gauge('earshot_inference_jobs', 'Shared scheduler counters (running, finals_done, partials_done, partials dropped as superseded/stale/preempted, finals preempted/overflowed/ahead, worker_deaths, timeouts).', () => {
        const s = live.schedulerStats();
        if (!s) return [];
        return Object.entries(s).map(([k, v]) => [{ stat: k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`) }, v]);
      }),
    );
    this.finalLatency = r.add(
      new Histogram('earshot_final_latency_seconds', 'End-of-speech decision to final transcript.', [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30]),
    );
    this.inferenceSeconds = r.add(
      new Histogram('earshot_inference_seconds', 'Engine time of one inference job, by kind (final|partial).', [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10]),
    );
    this.partialLatency = r.add(
      new Histogram('earshot_partial_latency_seconds', 'A partial job from its audio to its transcript (queue wait and inference).', [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2]),
    );
    this.audioSeconds = r.add(new Counter('earshot_inference_audio_seconds_total', 'Seconds of audio transcribed by inference jobs, by kind.', []));
    r.add(
      new Gauge('earshot_realtime_factor', 'Engine seconds per second of audio since start, by kind (lower is faster).', () =>
        (['final', 'partial'] as const)
          .filter((k) => this.inferenceTotals[k].audio > 0)
          .map((k) => [{ kind: k }, this.inferenceTotals[k].processing / this.inferenceTotals[k].audio]),
      ),
    );
    r.add(new Gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', () => process.memoryUsage.rss()));
    r.add(new Gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.', () => process.memoryUsage().heapUsed));
    const started = Date.now() / 1000;
    r.add(new Gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', () => started));
  }

  /** Scheduler hook: one finished inference job. */
  inferenceDone(kind: 'final' | 'partial', processingMs: number, audioSeconds: number, latencyMs: number): void {
    if (kind === 'partial') this.partialLatency.observe(latencyMs / 1000);
    this.inferenceSeconds.observe(processingMs / 1000, { kind });
    this.audioSeconds.inc({ kind }, audioSeconds);
    this.inferenceTotals[kind].processing += processingMs / 1000;
    this.inferenceTotals[kind].audio += audioSeconds;
  }

  render(): string {
    return this.registry.render();
  }
}
