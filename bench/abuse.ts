/**
 * `npm run abuse [-- --case NAME,NAME] [--url http://host:port] [--node-args='--cpu-prof --cpu-prof-dir=DIR']`: the
 * hostile-client cases of issue 13 at full size, against a server started here with the defaults (node started with
 * --node-args, split at spaces), or the one at --url. While each case runs:
 * - a normal client from 127.0.0.2 transcribes five sentences at real time (WER and worst final latency);
 * - a probe session from 127.0.0.3 streams silence and pings every 50 ms: its worst round trip is the longest any
 *   other session was stalled;
 * - /health is polled every 100 ms.
 * The attack runs in a child process of its own (`--attack NAME`), so that the attacker's own work (a thousand
 * WebSocket clients) does not delay the probe's and /health's measurements in this one.
 * RSS is the server's: before the case, its peak (sampled every 50 ms), and 10 s after the case ended. The server's
 * own longest event-loop delay over the case (prom-client's nodejs_eventloop_lag_max_seconds, reset by each scrape;
 * it includes the monitor's 10 ms resolution) is printed beside the probe's: the probe and /health share the 2
 * cores with the attack and the server.
 */
import { execFile, fork } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import WebSocket from 'ws';
import { writeWav } from '../src/audio/wav.ts';
import { EarshotClient } from '../src/client/earshot-client.ts';
import { conversation } from '../eval/conversation.ts';
import { SPEECH_CLIPS } from '../eval/speech.ts';
import { startServerProcess, type ServerProcess } from '../eval/server-process.ts';
import { ms, pct, table } from '../eval/stats.ts';
import { wer } from '../eval/wer.ts';

const { values } = parseArgs({ options: { case: { type: 'string' }, url: { type: 'string' }, 'node-args': { type: 'string' }, attack: { type: 'string' } } });
const ATTACKER = '127.0.0.1';
const NORMAL = '127.0.0.2';
const PROBE = '127.0.0.3';
const SETTLE_MS = 10_000;

let server: ServerProcess | undefined;
const httpUrl = values.url ?? (server = await startServerProcess([], process.env, values['node-args']?.split(' ').filter(Boolean))).url;
const wsUrl = `${httpUrl.replace(/^http/, 'ws')}/ws/stream`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-abuse-'));
const execFileAsync = promisify(execFile);
const sleep = (msec: number) => new Promise((r) => setTimeout(r, msec));

/** The server's longest event-loop delay since the previous call (its histogram resets on every /metrics scrape). */
async function serverLoopMaxMs(): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  return Number(/^nodejs_eventloop_lag_max_seconds ([0-9.e+-]+)$/m.exec(text)?.[1]) * 1000;
}

/** Also from /metrics when the server is not ours (which resets the event-loop histogram: that column is then moot). */
async function rssMb(): Promise<number> {
  if (server) return server.usage().rssMb;
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  return Number(/^process_resident_memory_bytes ([0-9.e+]+)$/m.exec(text)?.[1]) / 1e6;
}

// ---- what runs beside every case ----------------------------------------------------------------------------

/** Samples RSS and /health while a case runs. */
function monitor(): { stop(): Promise<{ peakMb: number; healthMaxMs: number; healthFailures: number }> } {
  let peakMb = 0;
  let healthMaxMs = 0;
  let healthFailures = 0;
  let running = true;
  const rss = (async () => {
    while (running) {
      peakMb = Math.max(peakMb, await rssMb());
      await sleep(50);
    }
  })();
  const health = (async () => {
    while (running) {
      const t0 = performance.now();
      const ok = await fetch(`${httpUrl}/health`, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false);
      healthMaxMs = Math.max(healthMaxMs, performance.now() - t0);
      if (!ok) healthFailures++;
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await Promise.all([rss, health]);
      return { peakMb, healthMaxMs, healthFailures };
    },
  };
}

/** A session from PROBE streaming silence at real time and pinging every 50 ms; maxRtt() is reset on read. */
async function startProbe(): Promise<{ maxRtt(): number; close(): Promise<void> }> {
  const client = await EarshotClient.connect(wsUrl, { localAddress: PROBE });
  await client.start('probe');
  let worst = 0;
  let sentAt = 0;
  let closed = false;
  client.on('close', () => (closed = true));
  client.on('pong', () => {
    worst = Math.max(worst, performance.now() - sentAt);
    sentAt = 0;
  });
  const frame = new Int16Array(1600); // 100 ms of silence
  const audio = setInterval(() => client.sendAudio(frame), 100);
  const ping = setInterval(() => {
    if (sentAt !== 0) worst = Math.max(worst, performance.now() - sentAt); // still waiting: already that late
    else {
      sentAt = performance.now();
      client.sendJson({ type: 'ping' });
    }
  }, 50);
  return {
    maxRtt() {
      if (closed) throw new Error('the probe session was closed by the server');
      const w = worst;
      worst = 0;
      return w;
    },
    async close() {
      clearInterval(audio);
      clearInterval(ping);
      await client.close();
    },
  };
}

/** The normal client: five sentences at real time from NORMAL. */
async function normalClient(): Promise<{ ok: boolean; summary: string }> {
  const clips = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav').slice(0, 5);
  const { samples } = conversation(clips, 1);
  try {
    const client = await EarshotClient.connect(wsUrl, { localAddress: NORMAL });
    const texts: string[] = [];
    let worstLatency = 0;
    client.on('final', (f) => {
      texts.push(f.text);
      worstLatency = Math.max(worstLatency, f.latency_ms);
    });
    await client.start();
    await client.streamPcm(samples, { realtime: true });
    await client.stop();
    await client.close();
    const w = wer([{ reference: clips.map((c) => c.text).join(' '), hypothesis: texts.join(' ') }]).wer;
    const ok = texts.length === clips.length && w <= 0.1;
    return { ok, summary: `${ok ? 'yes' : 'NO'}: ${texts.length}/${clips.length} finals, WER ${pct(w)}, final ≤ ${ms(worstLatency)}` };
  } catch (e) {
    return { ok: false, summary: `NO: ${(e as Error).message}` };
  }
}

// ---- attacks ------------------------------------------------------------------------------------------------

function rawSocket(headers: Record<string, string> = {}): Promise<{ ws?: WebSocket; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl, { localAddress: ATTACKER, headers, perMessageDeflate: false });
    ws.on('open', () => resolve({ ws }));
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      res.resume();
      ws.terminate();
    });
    ws.on('error', () => resolve({ status: 0 }));
  });
}

/** Keeps `count` connections from ATTACKER open or reopening until `until` resolves; `onOpen` may use each. */
async function flood(count: number, until: Promise<unknown>, onOpen: (ws: WebSocket, tally: Map<string, number>) => void = () => {}): Promise<string> {
  const tally = new Map<string, number>();
  const add = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);
  let done = false;
  void until.then(() => (done = true));
  const open = new Set<WebSocket>();
  await Promise.all(
    Array.from({ length: count }, async () => {
      while (!done) {
        const { ws, status } = await rawSocket();
        if (!ws) {
          add(`refused ${status}`);
          await sleep(5000); // as the refusal's Retry-After says (a connect-rate flood is a proxy's job: Security)
          continue;
        }
        add('accepted');
        open.add(ws);
        onOpen(ws, tally);
        await new Promise<void>((resolve) => {
          ws.on('close', (code) => {
            add(`closed ${code}`);
            open.delete(ws);
            resolve();
          });
          void until.then(() => ws.terminate());
        });
      }
    }),
  );
  return [...tally].map(([k, v]) => `${v} ${k}`).join(', ');
}

function upload(file: Buffer, filename: string): Promise<{ status: number; code?: string; ms: number }> {
  const boundary = `abuse${Math.random().toString(16).slice(2)}`;
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\n\r\n`),
    file,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request(`${httpUrl}/v1/audio/transcriptions`, { method: 'POST', localAddress: ATTACKER, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': body.length } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code: string } }).error?.code;
        } catch {
          // a text answer
        }
        resolve({ status: res.statusCode!, code, ms: performance.now() - t0 });
      });
    });
    req.on('error', () => resolve({ status: 0, ms: performance.now() - t0 }));
    req.end(body);
  });
}

const uploadOutcome = (r: { status: number; code?: string; ms: number }) => `${r.status}${r.code ? ` ${r.code}` : ''} after ${ms(r.ms)}`;

/**
 * Made before the case's measurements start, without blocking this process (ffmpeg takes many seconds on a busy
 * machine, and the probe session must go on answering the server's heartbeat meanwhile).
 */
async function ffmpegFile(name: string, args: string[]): Promise<() => Buffer> {
  const file = path.join(dir, name);
  await execFileAsync('ffmpeg', ['-nostdin', '-loglevel', 'error', '-y', ...args, file]);
  return () => fs.readFileSync(file);
}

function wavDeclaring(rate: number, bytes: number): Buffer {
  const wav = writeWav(new Float32Array((bytes - 44) / 2), 16000);
  wav.writeUInt32LE(rate, 24);
  wav.writeUInt32LE(rate * 2, 28);
  return wav;
}

type Attack = (normalDone: Promise<unknown>) => Promise<string>;

/** Each case's setup (run before its measurements) returns the attack. */
const CASES: Record<string, () => Attack | Promise<Attack>> = {
  // No attack: the noise floor of this machine for the columns on the right.
  baseline: () => async (done) => {
    await done;
    return 'nothing';
  },
  'idle-1000': () => (done) => flood(1000, done),
  'silent-300': () => (done) =>
    // Held at least 35 s, so that the audio idle timeout (30 s) ends the sessions that got in.
    flood(300, Promise.all([done, sleep(35_000)]), (ws, tally) => {
      ws.send(JSON.stringify({ type: 'stt_start', session_id: 'silent' }));
      ws.on('message', (data) => {
        const m = JSON.parse(String(data)) as { type: string; code?: string };
        const k = m.type === 'stt_error' ? m.code! : m.type === 'stt_listening' ? 'listening' : undefined;
        if (k) tally.set(k, (tally.get(k) ?? 0) + 1);
      });
    }),
  // Just under the 3-hour limit, so that all of it is decoded and run through the VAD (10.8 MB).
  'mp3-3h-silence': async () => {
    const mp3 = await ffmpegFile('3h.mp3', ['-f', 'lavfi', '-i', 'anullsrc=r=16000:cl=mono', '-t', '10780', '-b:a', '8k']);
    return async () => uploadOutcome(await upload(mp3(), '3h.mp3'));
  },
  'flac-8h-silence': async () => {
    const flac = await ffmpegFile('8h.flac', ['-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '28800']);
    return async () => uploadOutcome(await upload(flac(), '8h.flac'));
  },
  'wav-8mhz': () => async () => {
    const rs = await Promise.all([0, 1, 2].map(() => upload(wavDeclaring(8_000_009, 60), 'bomb.wav')));
    return `3 × ${uploadOutcome(rs[0]!)}`;
  },
  'wav-1hz': () => async () => uploadOutcome(await upload(wavDeclaring(1, 20_000), 'slow.wav')),
  'odd-rates-11': () => async () => {
    const client = await EarshotClient.connect(wsUrl, { localAddress: ATTACKER });
    const rates = [8001, 11111, 22051, 31999, 44101, 47999, 64001, 96001, 128001, 176399, 191999];
    for (const rate of rates) {
      await client.start(undefined, { sampleRate: rate });
      client.sendAudio(new Int16Array(rate / 2));
      await client.stop();
    }
    await client.close();
    return `${rates.length} stt_start cycles at odd rates`;
  },
  'uploads-20x30s': () => async () => {
    const clips = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav');
    const wav = writeWav(conversation(clips, 1.5).samples.subarray(0, 30 * 16000), 16000);
    const rs = await Promise.all(Array.from({ length: 20 }, () => upload(wav, '30s.wav')));
    const by = new Map<number, number[]>();
    for (const r of rs) by.set(r.status, [...(by.get(r.status) ?? []), r.ms]);
    return [...by].map(([s, t]) => `${t.length} × ${s} (≤ ${ms(Math.max(...t))})`).join(', ');
  },
};

function caseNamed(name: string): (typeof CASES)[string] {
  const setup = CASES[name];
  if (!setup) throw new Error(`no case ${name}; cases: ${Object.keys(CASES).join(', ')}`);
  return setup;
}

/** This process as the attacker of one case: sets it up, says 'ready', attacks on 'go' until 'done', sends the outcome. */
async function attackInThisProcess(name: string): Promise<void> {
  const attack = await caseNamed(name)();
  const messages = (want: string) => new Promise<void>((resolve) => process.on('message', (m) => m === want && resolve()));
  const go = messages('go');
  const done = messages('done');
  process.send!('ready');
  await go;
  const outcome = await attack(done).catch((e: Error) => `failed: ${e.message}`);
  process.send!({ outcome }, () => process.disconnect());
}

/** A case's attacker in a child process; resolves once its setup is done. */
async function attacker(name: string): Promise<{ go(): void; done(): void; outcome: Promise<string> }> {
  const child = fork(process.argv[1]!, ['--attack', name, '--url', httpUrl], { execArgv: process.execArgv });
  const outcome = new Promise<string>((resolve, reject) => {
    child.on('message', (m) => typeof m === 'object' && m && 'outcome' in m && resolve(String(m.outcome)));
    child.once('exit', (code) => reject(new Error(`the attacker of ${name} exited with ${code}`)));
  });
  outcome.catch(() => {});
  await Promise.race([new Promise<void>((resolve) => child.on('message', (m) => m === 'ready' && resolve())), outcome]);
  return { go: () => child.send('go'), done: () => child.connected && child.send('done'), outcome };
}

async function main(): Promise<void> {
  const chosen = values.case ? values.case.split(',') : Object.keys(CASES);
  chosen.forEach(caseNamed); // every name checked before the first attack
  const rows: string[][] = [];
  const probe = await startProbe();
  try {
    for (const name of chosen) {
      const attack = await attacker(name);
      await sleep(2000);
      const before = await rssMb();
      probe.maxRtt();
      await serverLoopMaxMs();
      const watch = monitor();
      const normal = normalClient();
      attack.go();
      void normal.finally(() => attack.done());
      const outcome = await attack.outcome.catch((e: Error) => `failed: ${e.message}`);
      const normalResult = await normal;
      const seen = await watch.stop();
      const stall = probe.maxRtt();
      const loop = await serverLoopMaxMs();
      await sleep(SETTLE_MS);
      const after = await rssMb();
      const row = [
        name,
        outcome,
        `${Math.round(before)} / ${Math.round(seen.peakMb)} (+${Math.round(seen.peakMb - before)}) / ${Math.round(after)} (${after >= before ? '+' : ''}${Math.round(after - before)})`,
        normalResult.summary,
        `${ms(seen.healthMaxMs)}${seen.healthFailures ? ` (${seen.healthFailures} failed)` : ''}`,
        `${ms(stall)} (server loop ${ms(loop)})`,
      ];
      rows.push(row);
      console.error(`${name}: ${row.slice(1).join(' | ')}`);
    }
  } finally {
    await probe.close();
    await server?.stop();
  }
  console.log(table(['case', 'outcome', 'RSS MB before / peak / after 10 s', 'normal client (127.0.0.2) transcribed', '/health max', 'max stall of another session (server event loop)'], rows));
}

try {
  await (values.attack ? attackInThisProcess(values.attack) : main());
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
