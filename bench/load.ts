/**
 * `npm run load -- [--sessions N | --counts 1,12,24,48 | --find-max] [--duration S] [--url ws://host:port/ws/stream] [--token T]`
 * N concurrent real-time clients against a server (started here unless --url names one); one table row per N.
 * Each row's p95 final latency is reported against a bound of 300 ms; lost and doubled finals are counted per session.
 * --find-max steps N up to 128 and reports the largest N within that bound with no final lost or doubled.
 * `--protocol all|seed|openai|deepgram|wyoming` runs the same speech through each protocol instead (bench/protocol-load.ts).
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { runLoad, type LoadResult } from '../eval/load-harness.ts';
import { startServerProcess, type ServerProcess } from '../eval/server-process.ts';
import { ms, pct, table } from '../eval/stats.ts';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string' },
    duration: { type: 'string', default: '45' },
    url: { type: 'string' },
    token: { type: 'string' },
    counts: { type: 'string' },
    'find-max': { type: 'boolean' },
    protocol: { type: 'string' },
  },
});
if (values.protocol) {
  await (await import('./protocol-load.ts')).printProtocolLoad(values.protocol, Number(values.sessions ?? 12));
  process.exit(0);
}
const duration = Number(values.duration);
/** The bound each run's p95 final latency is reported against (the table's "p95 ≤" column, --find-max's stop). */
const P95_LIMIT_MS = 300;
const withinBounds = (r: LoadResult) => r.lost === 0 && r.doubled === 0 && r.finalLatency.p95 <= P95_LIMIT_MS;
const FIND_MAX_COUNTS = [1, 12, 24, 48, 64, 80, 96, 112, 128];

let server: ServerProcess | undefined;
const wsUrl = values.url ?? (server = await startServerProcess(['--max-sessions', '160', '--max-sessions-per-client', '160', '--max-connections-per-client', '640'])).wsUrl;
const httpUrl = wsUrl.replace(/^ws/, 'http').replace(/\/ws\/stream.*$/, '');

async function sample() {
  const text = await (await fetch(`${httpUrl}/metrics`, { headers: values.token ? { authorization: `Bearer ${values.token}` } : {} })).text();
  const metric = (name: string, labels = '[^}]*') => Number(new RegExp(`^${name}(?:\\{${labels}\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
  const own = server?.usage();
  return {
    rssMb: own?.rssMb ?? metric('process_resident_memory_bytes') / 1e6,
    cpuSeconds: own?.cpuSeconds ?? metric('process_cpu_seconds_total'),
    queueDepth: metric('earshot_inference_queue_depth'),
    // Counters appear with their first job: absent is 0.
    partialJobs: metric('earshot_inference_seconds_count', 'kind="partial"') || 0,
    partialRunSeconds: metric('earshot_inference_thread_seconds_total', 'kind="partial",state="run"') || 0,
    partialWaitSeconds: metric('earshot_inference_thread_seconds_total', 'kind="partial",state="wait"') || 0,
  };
}

const loadAverage = () => os.loadavg()[0]!.toFixed(2);
const row = (r: LoadResult & { loadAvg: string }) => [
  r.sessions,
  `${r.received}/${r.expected}`,
  `${r.lost} / ${r.doubled}`,
  pct(r.wer),
  `${ms(r.finalLatency.p50)} / ${ms(r.finalLatency.p95)} / ${ms(r.finalLatency.max)}`,
  r.finalLatency.p95 <= P95_LIMIT_MS ? 'yes' : 'NO',
  `${ms(r.firstPartial.p50)} / ${ms(r.firstPartial.p95)}`,
  r.partialsPerUtterance.toFixed(1),
  `${Math.round(r.peakRssMb)} MB`,
  `${Math.round(r.cpuPercent)} %`,
  `${ms(r.partialCpuMs)} / ${ms(r.partialWaitMs)}`,
  r.peakQueueDepth,
  r.crossTalk,
  r.loadAvg,
];
const HEADERS = ['sessions', 'finals', 'lost / doubled (per session)', 'WER', 'final latency p50 / p95 / max', `p95 ≤ ${P95_LIMIT_MS} ms`, 'first partial p50 / p95', 'partials/utt', 'server RSS', 'server CPU', 'CPU / wait per partial', 'max queue', 'cross-talk', 'load avg (1 min, at end)'];

const results: Array<LoadResult & { loadAvg: string }> = [];
console.error(
  `server RSS at /ready: ${Math.round((await sample()).rssMb)} MB; ${os.cpus().length} CPUs, load average ${loadAverage()} before the run ` +
    '(the clients run in this process, on the same machine: a busy machine shows worse numbers than a quiet one)',
);
try {
  const counts = values['find-max'] ? FIND_MAX_COUNTS : values.counts ? values.counts.split(',').map(Number) : [Number(values.sessions ?? 4)];
  for (const sessions of counts) {
    // All clients start within the first third of the run, so that N of them really speak at once.
    const staggerSeconds = Math.min(0.7, duration / 3 / sessions);
    const r = await runLoad({ wsUrl, sessions, durationSeconds: duration, staggerSeconds, token: values.token, sample });
    results.push({ ...r, loadAvg: loadAverage() });
    console.error(
      `${sessions} sessions: lost ${r.lost}, doubled ${r.doubled}, final p95 ${Math.round(r.finalLatency.p95)} ms (bound ${P95_LIMIT_MS} ms), first partial p50 ${Math.round(r.firstPartial.p50)} ms, load average ${loadAverage()}`,
    );
    if (values['find-max'] && !withinBounds(r)) break;
  }
} finally {
  await server?.stop();
}
console.log(table(HEADERS, results.map(row)));
if (values['find-max']) {
  const ok = results.filter(withinBounds);
  console.log(`\nlargest N with p95 final latency ≤ ${P95_LIMIT_MS} ms and no final lost or doubled: ${ok.at(-1)?.sessions ?? 'none'}`);
}
