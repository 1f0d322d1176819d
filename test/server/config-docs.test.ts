import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DEFAULT_RECORDER_CONFIG } from '../../src/recorder/recorder-config.ts';
import { DEFAULT_SERVER_CONFIG, SERVE_ENV_VARS, SERVE_FLAGS } from '../../src/server/config.ts';
import { RECORDER_SETTINGS } from '../../src/server/recorder-settings.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const doc = fs.readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8');
/** The settings tables' rows, split into cells. */
const rows = doc.split('\n').filter((l) => /^\| (`|\| `)/.test(l)).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
const documentedFlags = new Set(rows.flatMap((r) => [...r[0]!.matchAll(/`--([a-z-]+)`/g)].map((m) => m[1]!)));
const documentedVars = new Set(rows.flatMap((r) => [...r[1]!.matchAll(/`(EARSHOT_[A-Z0-9_]+)`/g)].map((m) => m[1]!)));
const rowOf = (env: string) => rows.find((r) => r[1] === `\`${env}\``);

test('docs/configuration.md has a row for every flag and variable of `earshot serve`, and no other', () => {
  assert.deepEqual([...documentedFlags].sort(), Object.keys(SERVE_FLAGS).sort());
  assert.deepEqual([...documentedVars].sort(), [...SERVE_ENV_VARS].sort());
});

test('every EARSHOT_ variable the code mentions is one the parser lists', () => {
  const mentioned = new Set<string>();
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) for (const m of fs.readFileSync(p, 'utf8').matchAll(/\bEARSHOT_[A-Z0-9_]*[A-Z0-9]\b/g)) mentioned.add(m[0]);
    }
  };
  walk(path.join(ROOT, 'src'));
  for (const name of mentioned) assert.ok(SERVE_ENV_VARS.includes(name), `${name} is read or named in src/ but not in SERVE_ENV_VARS`);
});

test('recorder rows give the seed name and the recorder default; server rows their default', () => {
  for (const s of RECORDER_SETTINGS) {
    const row = rowOf(s.env);
    assert.ok(row, s.env);
    assert.equal(row[0], `\`--${s.flag}\``);
    assert.equal(row[2], `\`${DEFAULT_RECORDER_CONFIG[s.key]}\``, `${s.env} default`);
    assert.equal(row[3], s.seed ? `\`${s.seed}\`` : "(Earshot's own)", `${s.env} seed name`);
  }
  const d = DEFAULT_SERVER_CONFIG;
  const defaults: Record<string, unknown> = {
    EARSHOT_PORT: d.port,
    EARSHOT_HOST: d.host,
    EARSHOT_MAX_SESSIONS: d.maxSessions,
    EARSHOT_MAX_CONNECTIONS: d.maxConnections,
    EARSHOT_MAX_SESSIONS_PER_CLIENT: d.maxSessionsPerClient,
    EARSHOT_MAX_CONNECTIONS_PER_CLIENT: d.maxConnectionsPerClient,
    EARSHOT_START_TIMEOUT_MS: d.startTimeoutMs,
    EARSHOT_AUDIO_IDLE_TIMEOUT_MS: d.audioIdleTimeoutMs,
    EARSHOT_UPLOAD_CONCURRENCY: d.uploadConcurrency,
    EARSHOT_UPLOAD_QUEUE: d.uploadQueue,
    EARSHOT_MAX_UPLOAD_MB: d.maxUploadBytes / 1024 / 1024,
    EARSHOT_DRAIN_SECONDS: d.drainMs / 1000,
    EARSHOT_MODEL: d.model,
    EARSHOT_REALTIME_MODEL: d.realtimeModel,
    EARSHOT_THREADS: d.threads,
    EARSHOT_TIMEOUT_MS: d.timeoutMs,
  };
  for (const [env, value] of Object.entries(defaults)) assert.equal(rowOf(env)?.[2], `\`${value}\``, `${env} default`);
});
