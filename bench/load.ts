/**
 * `npm run load -- --sessions N [--duration S] [--url ws://host:port/ws/stream] [--token T] [--find-max]`
 * N concurrent real-time clients against a server (started here unless --url names one); one table row per N.
 * --find-max steps N up and reports the largest N with p95 final latency ≤ 1.5 s and no lost final.
 */
import { parseArgs } from 'node:util';
import { runLoad, type LoadResult } from './load-harness.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';
import { ms, pct, table } from './stats.ts';

const { values } = parseArgs({
  options: {
    sessions: { type: 'string', default: '4' },
    duration: { type: 'string', default: '45' },
    url: { type: 'string' },
    token: { type: 'string' },
    'find-max': { type: 'boolean' },
  },
});
const duration = Number(values.duration);
const P95_LIMIT_MS = 1500;

let server: ServerProcess | undefined;
const wsUrl = values.url ?? (server = await startServerProcess(['--max-sessions', '64', '--max-sessions-per-client', '64', '--max-connections-per-client', '256'])).wsUrl;
const httpUrl = wsUrl.replace(/^ws/, 'http').replace(/\/ws\/stream.*$/, '');

async function sample() {
  const text = await (await fetch(`${httpUrl}/metrics`, { headers: values.token ? { authorization: `Bearer ${values.token}` } : {} })).text();
  const metric = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
  const own = server?.usage();
  return {
    rssMb: own?.rssMb ?? metric('process_resident_memory_bytes') / 1e6,
    cpuSeconds: own?.cpuSeconds ?? metric('process_cpu_seconds_total'),
    queueDepth: metric('earshot_inference_queue_depth'),
  };
}

const row = (r: LoadResult) => [
  r.sessions,
  `${r.received}/${r.expected}`,
  r.lost,
  pct(r.wer),
  `${ms(r.finalLatency.p50)} / ${ms(r.finalLatency.p95)} / ${ms(r.finalLatency.max)}`,
  `${ms(r.firstPartial.p50)} / ${ms(r.firstPartial.p95)}`,
  r.partialsPerUtterance.toFixed(1),
  `${Math.round(r.peakRssMb)} MB`,
  `${Math.round(r.cpuPercent)} %`,
  r.peakQueueDepth,
  r.crossTalk,
];
const HEADERS = ['sessions', 'finals', 'lost', 'WER', 'final latency p50 / p95 / max', 'first partial p50 / p95', 'partials/utt', 'server RSS', 'server CPU', 'max queue', 'cross-talk'];

const results: LoadResult[] = [];
try {
  const counts = values['find-max'] ? [2, 4, 8, 12, 16, 20, 24, 32, 40, 48] : [Number(values.sessions)];
  for (const sessions of counts) {
    const r = await runLoad({ wsUrl, sessions, durationSeconds: duration, token: values.token, sample });
    results.push(r);
    console.error(`${sessions} sessions: lost ${r.lost}, p95 ${Math.round(r.finalLatency.p95)} ms`);
    if (values['find-max'] && (r.lost > 0 || r.finalLatency.p95 > P95_LIMIT_MS)) break;
  }
} finally {
  await server?.stop();
}
console.log(table(HEADERS, results.map(row)));
if (values['find-max']) {
  const ok = results.filter((r) => r.lost === 0 && r.finalLatency.p95 <= P95_LIMIT_MS);
  console.log(`\nlargest N with p95 final latency ≤ ${P95_LIMIT_MS} ms and no lost final: ${ok.at(-1)?.sessions ?? 'none'}`);
}
