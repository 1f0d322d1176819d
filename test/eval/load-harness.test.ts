import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runLoad } from '../../eval/load-harness.ts';
import { serverForSuite } from '../server/helpers.ts';

describe('load harness (npm run load) against a real server', () => {
  const t = serverForSuite();

  it('runs 3 real-time sessions for a few seconds and loses nothing', async () => {
    const r = await runLoad({ wsUrl: t.ws, sessions: 3, durationSeconds: 6, staggerSeconds: 0.3 });
    assert.equal(r.sessions, 3);
    assert.ok(r.expected >= 3);
    assert.equal(r.lost, 0, `${r.received}/${r.expected} finals`);
    assert.equal(r.crossTalk, 0);
    assert.ok(r.wer <= 0.1, `WER ${r.wer}`);
    assert.ok(Number.isFinite(r.finalLatency.p95));
  });
});
