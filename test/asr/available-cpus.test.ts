import assert from 'node:assert/strict';
import { test } from 'node:test';
import { availableCpus } from '../../src/asr/available-cpus.ts';

/** A fake /sys/fs/cgroup: the files given exist, every other read fails like a missing file. */
function files(map: Record<string, string>): (path: string) => string {
  return (path) => {
    if (path in map) return map[path]!;
    throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  };
}

test('cgroup v2 quota caps the CPUs Node reports', () => {
  assert.equal(availableCpus(files({ '/sys/fs/cgroup/cpu.max': '200000 100000\n' }), 64), 2);
  assert.equal(availableCpus(files({ '/sys/fs/cgroup/cpu.max': '150000 100000\n' }), 64), 2);
  assert.equal(availableCpus(files({ '/sys/fs/cgroup/cpu.max': '50000 100000\n' }), 64), 1, 'at least one');
  assert.equal(availableCpus(files({ '/sys/fs/cgroup/cpu.max': '800000 100000\n' }), 4), 4, 'never above the affinity mask');
});

test('no quota ("max", -1) or no cgroup files: the CPUs Node reports', () => {
  assert.equal(availableCpus(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' }), 8), 8);
  assert.equal(availableCpus(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }), 8), 8);
  assert.equal(availableCpus(files({}), 6), 6);
});

test('cgroup v1 quota', () => {
  assert.equal(availableCpus(files({ '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '300000\n', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000\n' }), 16), 3);
});
