/**
 * The server's Prometheus metrics, through prom-client: Node's default process metrics (memory, CPU, event-loop
 * delay, GC, handles) once per process, and Earshot's own per server.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Transcript } from '../asr/engine.ts';

export const PROMETHEUS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;

/** Earshot answers in milliseconds to seconds: buckets from 5 ms, so p50s and p95s resolve where it operates. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];

/** Input gain in dB: 0 is the bucket of untouched input; the rest spread over the gain's range (0-40 dB). */
const GAIN_BUCKETS_DB = [0, 3, 6, 10, 15, 20, 25, 30, 35, 40];

let processRegistry: Registry | undefined;

/** Default metrics describe the process, not a server: one collector however many servers a process runs (tests). */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, eventLoopMonitoringPrecision: 10 });
  }
  return processRegistry;
}

/** What the server's gauges read at scrape time. */
export interface LiveValues {
  sessions(): number;
  connections(): number;
  queueDepth(): number;
  schedulerStats(): Record<string, number> | undefined;
  maxSessions?(): number;
  maxConnections?(): number;
  draining?(): boolean;
  /** TCP connections refused on accept, by reason (the admission keeps the totals). */
  refusedConnections?(): Record<string, number>;
  /** Silero VAD's batched runs and the windows they scored (SileroModel keeps the totals). */
  vadStats?(): { runs: number; windows: number } | undefined;
}

/** Scheduler counters by the outcome they count (the scheduler keeps them; they are read at scrape time). */
const JOB_OUTCOMES: Record<string, string> = {
  finalsDone: 'final_done',
  partialsDone: 'partial_done',
  partialsSuperseded: 'partial_superseded',
  partialsStale: 'partial_stale',
  partialsPreempted: 'partial_preempted',
  finalsPreempted: 'final_preempted',
  finalsOverflowed: 'final_overflowed',
  finalsAhead: 'final_ahead',
  finalsWithdrawn: 'final_withdrawn',
  finalsAbandoned: 'final_abandoned',
  workerDeaths: 'worker_death',
  timeouts: 'timeout',
};

export class ServerMetrics {
  readonly registry = new Registry();
  readonly utterances: Counter;
  readonly finals: Counter;
  readonly partials: Counter;
  readonly discarded: Counter<'reason'>;
  readonly guard: Counter<'verdict'>;
  readonly errors: Counter<'code'>;
  readonly droppedMessages: Counter;
  readonly inputPauses: Counter;
  readonly connections: Counter;
  readonly sessionsStarted: Counter<'protocol'>;
  readonly refusedUpgrades: Counter<'reason'>;
  readonly httpTranscriptions: Counter<'status'>;
  readonly keytermSessions: Counter;
  readonly keytermMatches: Counter;
  readonly finalLatency: Histogram;
  /** Recording start to the first partial (stt_update) of an utterance. */
  readonly firstPartialLatency: Histogram;
  /** A partial job from its audio to its transcript (queue wait and inference). */
  readonly partialLatency: Histogram;
  readonly inferenceSeconds: Histogram<'kind'>;
  /** The adaptive input gain (dB) each utterance ended at, in sessions and uploads with it on. */
  readonly inputGain: Histogram;
  readonly audioSeconds: Counter<'kind'>;
  readonly threadSeconds: Counter<'kind' | 'state'>;
  private readonly inferenceTotals = { final: { processing: 0, audio: 0 }, partial: { processing: 0, audio: 0 } };

  constructor(live: LiveValues) {
    const registers = [this.registry];
    const counter = <L extends string = never>(name: string, help: string, labelNames: L[] = []) => new Counter<L>({ name, help, labelNames, registers });
    const gauge = (name: string, help: string, read: (g: Gauge<string>) => void, labelNames: string[] = []) =>
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          read(this);
        },
      });
    /** A counter whose totals another part keeps: shown as they are at each scrape. */
    const totals = (name: string, help: string, label: string, read: () => Record<string, number> | undefined) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers,
        collect() {
          const counts = read();
          if (!counts) return;
          this.reset();
          for (const [value, n] of Object.entries(counts)) this.inc({ [label]: value }, n);
        },
      });
    const histogram = <L extends string = never>(name: string, help: string, labelNames: L[] = []) =>
      new Histogram<L>({ name, help, labelNames, buckets: LATENCY_BUCKETS, registers });

    gauge('earshot_sessions', 'Listening sessions (WebSocket stt_start cycles and HTTP transcriptions) now.', (g) => g.set(live.sessions()));
    gauge('earshot_max_sessions', 'The --max-sessions limit: handshakes beyond it are refused with 503.', (g) => g.set(live.maxSessions?.() ?? 0));
    gauge('earshot_draining', '1 while the server drains (SIGTERM): /ready and new handshakes answer 503.', (g) => g.set(live.draining?.() ? 1 : 0));
    gauge('earshot_connections', 'Open WebSocket connections now.', (g) => g.set(live.connections()));
    gauge('earshot_max_connections', 'The connection cap (EARSHOT_MAX_CONNECTIONS): handshakes beyond it are refused with 503.', (g) => g.set(live.maxConnections?.() ?? 0));
    this.connections = counter('earshot_connections_total', 'WebSocket connections accepted.');
    this.sessionsStarted = counter('earshot_sessions_started_total', 'Sessions that took a slot, by protocol (seed, openai-realtime, deepgram, wyoming).', ['protocol']);
    this.refusedUpgrades = counter('earshot_refused_upgrades_total', 'WebSocket upgrades refused, by reason.', ['reason']);
    totals(
      'earshot_refused_connections_total',
      'TCP connections refused on accept, before any HTTP is read, by reason: client_sockets (the per-address socket cap), client_connect_rate (the per-address connect rate).',
      'reason',
      () => live.refusedConnections?.(),
    );
    this.utterances = counter('earshot_utterances_total', 'Utterances ended by the recorder (each yields a final or a discard).');
    this.finals = counter('earshot_finals_total', 'Final transcripts delivered.');
    this.partials = counter('earshot_partials_total', 'Realtime partial transcripts (stt_update) produced.');
    this.discarded = counter('earshot_discarded_total', 'Utterances dropped without a final, by reason.', ['reason']);
    this.guard = counter('earshot_guard_total', 'Finals with a repeated phrase, by hallucination-guard verdict (repetition_kept|loop_cut|unchecked).', ['verdict']);
    this.errors = counter('earshot_errors_total', 'stt_error messages and HTTP API errors, by code.', ['code']);
    this.droppedMessages = counter('earshot_dropped_messages_total', 'stt_update/stt_stabilized not sent to slow readers.');
    this.inputPauses = counter('earshot_input_pauses_total', 'Times a client sending audio faster than it is processed was paused (backpressure).');
    this.httpTranscriptions = counter('earshot_http_transcriptions_total', 'POST /v1/audio/transcriptions answered, by status.', ['status']);
    this.keytermSessions = counter('earshot_keyterm_sessions_total', 'Listening sessions (start … stop cycles, HTTP transcriptions) given keyterms by their client.');
    this.keytermMatches = counter('earshot_keyterm_matches_total', 'Keyterms completed in finals (decoded toward keyterms).');
    gauge('earshot_inference_queue_depth', 'Inference jobs waiting in the shared scheduler.', (g) => g.set(live.queueDepth()));
    gauge('earshot_inference_running', 'Inference jobs running in the workers now.', (g) => g.set(live.schedulerStats()?.running ?? 0));
    totals(
      'earshot_inference_jobs_total',
      'Inference jobs of the shared scheduler by outcome: final_done, partial_done; partials dropped (partial_superseded by the same session, partial_stale, partial_preempted for a final); final_preempted (of a session ahead of real time, requeued), final_overflowed (run on the realtime model), final_ahead (of a session ahead of real time); final_withdrawn and final_abandoned (given up by the recorder, e.g. a speculative final when speech resumed: still queued, or running, its work lost); worker_death; timeout.',
      'outcome',
      () => {
        const stats = live.schedulerStats();
        return stats && Object.fromEntries(Object.entries(JOB_OUTCOMES).map(([stat, outcome]) => [outcome, stats[stat] ?? 0]));
      },
    );
    totals(
      'earshot_vad_windows_total',
      'Silero VAD on the event loop: windows scored (kind=window) and the batched runs that scored them (kind=run); windows per run is the mean batch.',
      'kind',
      () => {
        const stats = live.vadStats?.();
        return stats && { window: stats.windows, run: stats.runs };
      },
    );
    this.finalLatency = histogram('earshot_final_latency_seconds', 'End-of-speech decision to final transcript.');
    this.firstPartialLatency = histogram('earshot_first_partial_seconds', 'Recording start (onset) to the first partial transcript of an utterance.');
    this.partialLatency = histogram('earshot_partial_latency_seconds', 'A partial job from its audio to its transcript (queue wait and inference).');
    this.inferenceSeconds = histogram('earshot_inference_seconds', 'Engine time of one inference job, by kind (final|partial).', ['kind']);
    this.inputGain = new Histogram({
      name: 'earshot_input_gain_db',
      help: 'Adaptive input gain (dB) at the end of each utterance, in sessions and uploads with agc on: 0 for speech at a normal level, up to 40 for a quiet or distant talker.',
      buckets: GAIN_BUCKETS_DB,
      registers,
    });
    this.audioSeconds = counter('earshot_inference_audio_seconds_total', 'Seconds of audio transcribed by inference jobs, by kind.', ['kind']);
    this.threadSeconds = counter(
      'earshot_inference_thread_seconds_total',
      "Inference threads' time during jobs, by kind and state: on a CPU (state=run: the jobs' CPU cost) or runnable but waiting for one (state=wait: a busy machine). Linux only.",
      ['kind', 'state'],
    );
    gauge(
      'earshot_realtime_factor',
      'Engine seconds per second of audio since start, by kind (lower is faster).',
      (g) => {
        for (const kind of ['final', 'partial'] as const) {
          const t = this.inferenceTotals[kind];
          if (t.audio > 0) g.set({ kind }, t.processing / t.audio);
        }
      },
      ['kind'],
    );
  }

  /** Scheduler hook: one finished inference job. */
  inferenceDone(kind: 'final' | 'partial', { processingMs, audioSeconds, thread, keyterms }: Transcript, latencyMs: number): void {
    if (kind === 'partial') this.partialLatency.observe(latencyMs / 1000);
    if (kind === 'final' && keyterms) this.keytermMatches.inc(keyterms);
    if (thread) {
      this.threadSeconds.inc({ kind, state: 'run' }, thread.runMs / 1000);
      this.threadSeconds.inc({ kind, state: 'wait' }, thread.waitMs / 1000);
    }
    this.inferenceSeconds.observe({ kind }, processingMs / 1000);
    this.audioSeconds.inc({ kind }, audioSeconds);
    this.inferenceTotals[kind].processing += processingMs / 1000;
    this.inferenceTotals[kind].audio += audioSeconds;
  }

  /** The exposition text: process metrics, then the server's. */
  async render(): Promise<string> {
    return (await processMetrics().metrics()) + (await this.registry.metrics());
  }
}

/** A metric's value (the sum over its label sets when `labels` is not given); tests and tools read metrics with it. */
export async function metricTotal(metric: Counter<string> | Gauge<string>, labels?: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  const matching = labels ? values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)) : values;
  return matching.reduce((sum, v) => sum + v.value, 0);
}
