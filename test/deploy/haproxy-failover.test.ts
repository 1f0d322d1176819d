/**
 * Three real `earshot serve` processes behind HAProxy (Debian's, with deploy/haproxy/haproxy.cfg) on loopback;
 * 12 real-time sessions through the balancer with the reconnecting client. One instance drains (SIGTERM), later
 * another is killed (SIGKILL): every sentence spoken still gets exactly one final.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startServerProcess, type ServerProcess } from '../../eval/server-process.ts';
import type { SessionFinal } from '../../src/client/earshot-client.ts';
import { ReconnectingSession } from '../../src/client/reconnecting-session.ts';
import { clip, conversation, metricValue, waitFor, werOf, type SpeechClip } from '../server/helpers.ts';
import { requireTool, skipWithout } from '../support/require-tool.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CONFIG = path.join(ROOT, 'deploy/haproxy/haproxy.cfg');
const SESSIONS = 12;
const SENTENCES = [
  'sense_and_sensibility_01_austen_64kb-0870.wav',
  'sense_and_sensibility_01_austen_64kb-0880.wav',
  'sense_and_sensibility_01_austen_64kb-0890.wav',
  'sense_and_sensibility_01_austen_64kb-0920.wav',
  'sense_and_sensibility_01_austen_64kb-0930.wav',
  'goforward.wav',
  'cards-005.wav',
].map(clip);
const PER_SESSION = 5;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Only a hang reaches it: waits here are for a final, a drain, an exit, on a machine that may be busy. */
const HANG_MS = 120_000;

describe('three instances behind HAProxy: drain and failover', { skip: skipWithout('haproxy') }, () => {
  const instances: ServerProcess[] = [];
  let haproxy: ChildProcess | undefined;
  let lbUrl = '';
  let lbWyomingPort = 0;

  before(async () => {
    const haproxyPath = requireTool('haproxy');
    // Tiny for finals too: cheaper on a 2-core CI machine; the test is about failover, not accuracy.
    // Behind the balancer the client is X-Forwarded-For's; every test client is 127.0.0.1, so it gets all 16 sessions.
    const args = ['--model', 'moonshine-tiny', '--max-sessions', '16', '--trusted-proxies', '127.0.0.1', '--max-sessions-per-client', '16'];
    const wyomingPorts = [await freePort(), await freePort(), await freePort()];
    instances.push(...(await Promise.all(wyomingPorts.map((port) => startServerProcess([...args, '--wyoming-port', String(port)])))));
    const lbPort = await freePort();
    lbUrl = `ws://127.0.0.1:${lbPort}/ws/stream`;
    lbWyomingPort = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env, EARSHOT_LB_BIND: `127.0.0.1:${lbPort}`, EARSHOT_LB_WYOMING_BIND: `127.0.0.1:${lbWyomingPort}` };
    instances.forEach((s, i) => {
      env[`EARSHOT_BACKEND_${i + 1}`] = new URL(s.url).host;
      env[`EARSHOT_WYOMING_BACKEND_${i + 1}`] = `127.0.0.1:${wyomingPorts[i]}`;
    });
    haproxy = spawn(haproxyPath, ['-f', CONFIG, '-db'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    haproxy.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-4000)));
    haproxy.once('exit', (code) => {
      if (code !== null && code !== 0) console.error(`haproxy exited with ${code}: ${log}`);
    });
    // Health checks: two passes (rise 2, inter 1 s) before an instance takes sessions.
    await waitFor(async () => (await fetch(`http://127.0.0.1:${lbPort}/ready`).catch(() => undefined))?.status === 200, 60_000, 'the balancer');
    await sleep(2500);
  });

  after(async () => {
    haproxy?.kill('SIGKILL');
    for (const s of instances) s.child.kill('SIGKILL');
  });

  test('Wyoming through the balancer: describe → info from an instance', async () => {
    const socket = net.connect(lbWyomingPort, '127.0.0.1');
    let received = '';
    const info = new Promise<string>((resolve, reject) => {
      socket.on('data', (d: Buffer) => {
        received += d.toString('latin1');
        const line = received.split('\n').find((l) => l.includes('"info"'));
        if (line) resolve(line);
      });
      socket.once('error', reject);
      socket.once('close', () => reject(new Error(`closed before info: ${received}`)));
    });
    socket.write('{"type":"describe"}\n');
    assert.match(await info, /"type":\s*"info"/);
    socket.destroy();
  });

  test(`${SESSIONS} sessions; one instance drains, another is killed: no final lost, none doubled`, { timeout: 600_000 }, async (t) => {
    const scripts = Array.from({ length: SESSIONS }, (_, i) => Array.from({ length: PER_SESSION }, (_, k) => SENTENCES[(i + k) % SENTENCES.length]!));
    const sessions: ReconnectingSession[] = [];
    const got: Array<Array<SessionFinal & { streamStart: number }>> = scripts.map(() => []);
    const runs = scripts.map(async (clips, i) => {
      await sleep(i * 300);
      const session = await ReconnectingSession.open(lbUrl, { sessionId: `s${i}` });
      sessions[i] = session;
      session.on('final', (f) => got[i]!.push(f));
      await session.streamPcm(conversation(clips, 1.2).samples);
      await session.stop();
      await session.close();
    });
    const failed = runs.map((r) => r.catch((e: unknown) => e));

    // Graceful: once every session has had a final (each is mid-script), the busiest instance drains.
    const everySessionHas = (n: number) => () => got.every((g) => g.length >= n);
    await waitFor(everySessionHas(1), HANG_MS, 'a final in every session');
    const sessionsOn = async (s: ServerProcess) => (await metricValue(s.url, 'earshot_sessions').catch(() => 0)) ?? 0;
    const load = await Promise.all(instances.map(sessionsOn));
    const drained = instances[load.indexOf(Math.max(...load))]!;
    const drainedExit = new Promise<number | null>((resolve) => drained.child.once('exit', resolve));
    drained.child.kill('SIGTERM');
    await waitFor(async () => (await fetch(`${drained.url}/ready`).catch(() => undefined))?.status === 503, HANG_MS, '/ready 503 while draining');

    // Abrupt: once the drained instance has handed its sessions on (each after its next final) and exited, the
    // busier of the other two vanishes.
    assert.equal(await drainedExit, 0, 'the drained instance exits 0');
    const rest = instances.filter((s) => s !== drained);
    const restLoad = await Promise.all(rest.map(sessionsOn));
    const killed = rest[restLoad.indexOf(Math.max(...restLoad))]!;
    assert.ok(Math.max(...restLoad) > 0, `the instance killed has sessions (${restLoad.join(', ')})`);
    killed.child.kill('SIGKILL');

    const errors = (await Promise.all(failed)).filter((e) => e !== undefined);
    assert.deepEqual(errors, [], 'every session ran to its end');

    const gaps = { drain: [] as number[], kill: [] as number[] };
    const counts = scripts.map((clips, i) => {
      const finals = got[i]!.sort((a, b) => a.streamStart - b.streamStart);
      for (const r of sessions[i]!.reconnects) (r.code === 1012 ? gaps.drain : gaps.kill).push(r.gapMs);
      return { lost: Math.max(0, clips.length - finals.length), doubled: Math.max(0, finals.length - clips.length), texts: finals.map((f) => f.text) };
    });
    const wers = scripts.map((clips, i) => werOf(counts[i]!.texts, clips));
    t.diagnostic(`WER per session: ${wers.map((w) => (w * 100).toFixed(1)).join(' ')} %`);
    scripts.forEach((clips, i) => {
      const { texts } = counts[i]!;
      assert.equal(texts.length, clips.length, `session ${i}: ${JSON.stringify(texts)}`);
      // moonshine-tiny (these servers' model) makes at most one error in each of these sentences offline. Beside npm
      // run load (48 sessions) one sentence resent across the kill was decoded with 3 errors in 13 words ("Hunt less to
      // be rather cold-hearted, and rather a selfish", session 6, both runs): that session at 7 %, the rest 0-3.9 %.
      clips.forEach((c: SpeechClip, k) => assert.ok(werOf([texts[k]!], [c]) <= 0.25, `session ${i} sentence ${k}: "${texts[k]}" for "${c.text}"`));
      assert.ok(wers[i]! <= 0.1, `session ${i}: WER ${(wers[i]! * 100).toFixed(1)} %`);
    });
    const lost = counts.reduce((n, c) => n + c.lost, 0);
    const doubled = counts.reduce((n, c) => n + c.doubled, 0);
    assert.ok(gaps.drain.length >= 1, 'some sessions were on the drained instance');
    assert.ok(gaps.kill.length >= 1, 'some sessions were on the killed instance');
    const duplicatesIgnored = sessions.reduce((n, s) => n + s.duplicates, 0);
    const ms = (v: number[]) => `${v.length} reconnects, gap p50 ${Math.round(percentile(v, 50))} ms / p95 ${Math.round(percentile(v, 95))} ms`;
    t.diagnostic(`drain (1012): ${ms(gaps.drain)}; kill (1006): ${ms(gaps.kill)}`);
    t.diagnostic(`finals: ${got.flat().length} for ${SESSIONS * PER_SESSION} sentences, lost ${lost}, doubled ${doubled}, duplicates ignored by the client ${duplicatesIgnored}`);
  });
});
