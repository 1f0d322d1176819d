import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../bin/earshot.js');
/** Node flags `npm start` gives the server (package.json). */
const SERVER_NODE_FLAGS = ['--max-semi-space-size=1'];
/** glibc settings `npm start` uses (package.json). */
const SERVER_MALLOC_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '4194304', MALLOC_TRIM_THRESHOLD_: '67108864' };

export interface ServerProcess {
  url: string;
  wsUrl: string;
  child: ChildProcess;
  /** RSS (MB) and cumulative CPU seconds of the server process, read from /proc. */
  usage(): { rssMb: number; cpuSeconds: number };
  /** What the server has logged so far (stderr). */
  log(): string;
  /** SIGTERM, then wait for exit. */
  stop(): Promise<number | null>;
}

/**
 * Starts `earshot serve --port 0` as a child process and resolves once /ready answers 200. `nodeArgs` go to node
 * itself (`--cpu-prof`, which NODE_OPTIONS does not take).
 */
export async function startServerProcess(args: string[] = [], env: NodeJS.ProcessEnv = process.env, nodeArgs: string[] = []): Promise<ServerProcess> {
  // As `npm start` runs it: two glibc malloc arenas instead of one per thread (−50 to −70 MB RSS at /ready), buffers
  // over 4 MB (model loading's) given back when freed (−25 MB), and a 1 MB young generation on the main thread, whose
  // audio copies are short-lived garbage (−20 to −45 MB RSS).
  const child = spawn(process.execPath, [...SERVER_NODE_FLAGS, ...nodeArgs, BIN, 'serve', '--port', '0', ...args], {
    env: { ...SERVER_MALLOC_ENV, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      log += chunk;
      const match = /listening on (http:\/\/[^\s]+)/.exec(log);
      if (match) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening:\n${log}`)));
  });
  child.stderr!.resume();
  for (let i = 0; ; i++) {
    const res = await fetch(`${url}/ready`).catch(() => undefined);
    if (res?.status === 200) break;
    if (i > 600) throw new Error('server not ready after 60 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const ticks = 100; // USER_HZ on Linux
  return {
    url,
    wsUrl: `${url.replace(/^http/, 'ws')}/ws/stream`,
    child,
    usage() {
      const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const status = fs.readFileSync(`/proc/${child.pid}/status`, 'utf8');
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
      return { rssMb: rssKb / 1024, cpuSeconds: (Number(stat[11]) + Number(stat[12])) / ticks };
    },
    log: () => log,
    stop() {
      return new Promise((resolve) => {
        if (child.exitCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill('SIGTERM');
      });
    },
  };
}
