import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runLoad } from '../../eval/load-harness.ts';
import { serverForSuite } from '../server/helpers.ts';

describe('load harness (npm run load) against a real server', () => {
  const t = serverForSuite();

  it('runs 3 real-time sessions for a few seconds; every session gets each of its finals once', async () => {
    const r = await runLoad({ wsUrl: t.ws, sessions: 3, durationSeconds: 6, staggerSeconds: 0.3 });
    assert.equal(r.sessions, 3);
    assert.ok(r.expected >= 3);
    assert.deepEqual({ lost: r.lost, doubled: r.doubled }, { lost: 0, doubled: 0 }, `${r.received}/${r.expected} finals`);
    assert.equal(r.received, r.expected);
    assert.equal(r.crossTalk, 0);
    assert.ok(r.wer <= 0.05, `WER ${r.wer}`);
    // Latency is the bench's to judge (npm run load reports p95 against its bound); here only that each final has one.
    assert.ok(Number.isFinite(r.finalLatency.p95) && r.finalLatency.max >= r.finalLatency.p95);
  });
});
