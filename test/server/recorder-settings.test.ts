import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { resolveServerConfig } from '../../src/server/config.ts';
import { clip, conversation, finals, serverForSuite, transcribeOver, werOf } from './helpers.ts';

const clips = [clip('cards-003.wav'), clip('goforward.wav')];

describe('recorder settings of `earshot serve` reach every session', () => {
  // As `earshot serve --enable-realtime-transcription false` with EARSHOT_POST_SPEECH_SILENCE_DURATION=2 would run.
  const { recorder } = resolveServerConfig(['--enable-realtime-transcription', 'false'], { EARSHOT_POST_SPEECH_SILENCE_DURATION: '2' });
  const t = serverForSuite({ config: { recorder } });

  // With the defaults (0.6 s) the same audio gives one final per clip (test/server/streaming.test.ts).
  test('a 1 s pause no longer ends an utterance, and no partials are sent', async () => {
    const { samples } = conversation(clips, 1);
    const client = await EarshotClient.connect(t.ws);
    try {
      const { log } = await transcribeOver(client, samples, { realtime: true });
      const f = finals(log);
      assert.equal(f.length, 1, `finals: ${JSON.stringify(f.map((x) => x.text))}`);
      assert.ok(werOf([f[0]!.text], clips) <= 0.2, f[0]!.text);
      assert.equal(log.filter((m) => m.type === 'stt_update').length, 0);
    } finally {
      await client.close();
    }
  });
});

test('earshot serve: an utterance longer than the models\' window stops the server with one line, not MODEL_LOAD_ERROR later', () => {
  const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/earshot.js');
  const r = spawnSync(process.execPath, [bin, 'serve', '--port', '0'], {
    env: { ...process.env, EARSHOT_MAX_UTTERANCE_SECONDS: '100', EARSHOT_LOG_LEVEL: 'warn' },
    encoding: 'utf8',
    timeout: 60000,
  });
  assert.equal(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, /--max-utterance-seconds \(EARSHOT_MAX_UTTERANCE_SECONDS\) must be a number from 2 to \d+ \(got 100\)/);
});
