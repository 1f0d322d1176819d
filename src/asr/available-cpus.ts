import fs from 'node:fs';
import os from 'node:os';

type ReadFile = (path: string) => string;

const readText: ReadFile = (path) => fs.readFileSync(path, 'utf8');

/**
 * CPUs this process may use, for the default number of inference workers: os.availableParallelism() (the CPUs of the
 * affinity mask) capped by the cgroup CPU quota. In a container limited to 2 CPUs on a 64-core host, Node 20 still
 * reports 64; the quota (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us) says 2.
 */
export function availableCpus(read: ReadFile = readText, affinity = os.availableParallelism()): number {
  const quota = cgroupQuota(read);
  return Math.max(1, quota === undefined ? affinity : Math.min(affinity, Math.round(quota)));
}

/** The CPU quota in CPUs, or undefined when there is none (or no cgroup file to read). */
function cgroupQuota(read: ReadFile): number | undefined {
  const v2 = tryRead(read, '/sys/fs/cgroup/cpu.max');
  if (v2 !== undefined) {
    const [max, period] = v2.trim().split(/\s+/);
    return ratio(max, period);
  }
  return ratio(tryRead(read, '/sys/fs/cgroup/cpu/cpu.cfs_quota_us')?.trim(), tryRead(read, '/sys/fs/cgroup/cpu/cpu.cfs_period_us')?.trim());
}

function ratio(quota: string | undefined, period: string | undefined): number | undefined {
  const q = Number(quota);
  const p = Number(period);
  // "max" (v2) or -1 (v1): no limit.
  if (!Number.isFinite(q) || !Number.isFinite(p) || q <= 0 || p <= 0) return undefined;
  return q / p;
}

function tryRead(read: ReadFile, path: string): string | undefined {
  try {
    return read(path);
  } catch {
    return undefined;
  }
}
