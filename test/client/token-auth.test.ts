// Browser auth without the server token: short-lived signed tokens (`earshot token`), offered as the WebSocket
// subprotocol `token.T` beside `earshot`, which the server selects. Upgrade checks only: no models needed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { silentLogger } from '../../src/server/logger.ts';
import { signedTokenValid, signToken } from '../../src/server/security.ts';
import { EarshotServer } from '../../src/server/server.ts';
import { REPO } from '../web/browser-harness.ts';

const SECRET = 'server-token-0123456789';

/** Opens a raw WebSocket offering `protocols`; resolves with the selected subprotocol or the refusal's status. */
function upgrade(url: string, protocols: string[]): Promise<{ protocol?: string; status?: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols);
    ws.once('open', () => {
      resolve({ protocol: ws.protocol });
      ws.close();
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode });
      res.resume();
      ws.terminate();
    });
    ws.once('error', () => {});
  });
}

test('signed tokens: valid until their expiry, for their scope, with their key only', () => {
  const now = Date.UTC(2026, 11, 1);
  const token = signToken(SECRET, { ttlSeconds: 60, now });
  assert.match(token, /^es1\.\d+\.stream\.[A-Za-z0-9_-]+$/);
  assert.ok(signedTokenValid(SECRET, token, 'stream', now + 59_000));
  assert.equal(signedTokenValid(SECRET, token, 'stream', now + 60_000), false, 'expired');
  assert.equal(signedTokenValid('another-secret-000', token, 'stream', now), false, 'other key');
  assert.equal(signedTokenValid(SECRET, token, 'admin', now), false, 'other scope');
  const [p, exp, scope, sig] = token.split('.');
  assert.equal(signedTokenValid(SECRET, [p, Number(exp) + 3600, scope, sig].join('.'), 'stream', now), false, 'expiry changed');
  for (const junk of ['', 'es1', 'es1.x.stream.y', `${token}.x`]) assert.equal(signedTokenValid(SECRET, junk, 'stream', now), false, junk);
});

describe('the WebSocket upgrade with a signed token', () => {
  let server: EarshotServer;
  let ws: string;

  before(async () => {
    server = new EarshotServer({ log: silentLogger, config: { host: '127.0.0.1', port: 0, token: SECRET } });
    await server.listen();
    ws = `${server.url.replace(/^http/, 'ws')}/ws/stream`;
  });

  after(() => server.close());

  test('`earshot, token.T` opens /ws/stream and the server selects `earshot`; bad tokens get 401', async () => {
    const cli = spawnSync(process.execPath, ['bin/earshot.js', 'token', '--ttl', '120'], { cwd: REPO, env: { ...process.env, EARSHOT_TOKEN: SECRET }, encoding: 'utf8' });
    assert.equal(cli.status, 0, cli.stderr);
    const token = cli.stdout.trim();
    assert.deepEqual(await upgrade(ws, ['earshot', `token.${token}`]), { protocol: 'earshot' });
    assert.deepEqual(await upgrade(ws, ['earshot', `token.${SECRET}`]), { protocol: 'earshot' }, 'the server token itself works too');
    assert.deepEqual(await upgrade(ws, ['earshot']), { status: 401 });
    const expired = signToken(SECRET, { ttlSeconds: 1, now: Date.now() - 10_000 });
    assert.deepEqual(await upgrade(ws, ['earshot', `token.${expired}`]), { status: 401 });
    assert.deepEqual(await upgrade(ws, ['earshot', `token.${signToken('some-other-secret', { ttlSeconds: 60 })}`]), { status: 401 });
  });

  test('a signed token opens only the stream: /metrics and /v1 still want the server token', async () => {
    const token = signToken(SECRET, { ttlSeconds: 60 });
    assert.equal((await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${token}` } })).status, 401);
    assert.equal((await fetch(`${server.url}/v1/models`, { headers: { Authorization: `Bearer ${token}` } })).status, 401);
    assert.equal((await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${SECRET}` } })).status, 200);
  });
});
