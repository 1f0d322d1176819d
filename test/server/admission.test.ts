import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { Admission, type AdmissionState } from '../../src/server/admission.ts';
import { DEFAULT_SERVER_CONFIG, type ServerConfig } from '../../src/server/config.ts';
import { silentLogger } from '../../src/server/logger.ts';
import { isLoopbackHost, signToken } from '../../src/server/security.ts';

const TOKEN = 'a-server-token';

function admission(config: Partial<ServerConfig> = {}, state: Partial<AdmissionState> = {}): Admission {
  const s = { draining: false, full: false, connections: 0, ...state };
  return new Admission({ ...DEFAULT_SERVER_CONFIG, token: TOKEN, maxConnectionsPerClient: 2, ...config }, s, silentLogger);
}

function request(headers: Record<string, string>, path = '/ws/stream'): { req: IncomingMessage; url: URL } {
  return { req: { headers: { host: '127.0.0.1:8000', ...headers } } as IncomingMessage, url: new URL(path, 'http://localhost') };
}

test('one loopback rule: localhost, 127.0.0.0/8 and ::1, in any spelling', () => {
  for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '127.0.0.2', '::1', '[::1]', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['0.0.0.0', '::', '[::]', '10.0.0.1', '128.0.0.1', 'example.com', 'localhost.example.com']) assert.ok(!isLoopbackHost(h), h);
});

test('one admission check: each entry runs its checks in order, and the first that fails answers', () => {
  const bearer = { authorization: `Bearer ${TOKEN}` };
  const foreign = { origin: 'https://evil.example' };
  // Draining and capacity come first on the connection entries, before origin and token.
  assert.equal(admission({}, { draining: true }).check('stream', { ...request(foreign), address: 'a' })?.reason, 'shutting_down');
  assert.equal(admission({}, { full: true }).check('stream', { ...request(bearer), address: 'a' })?.reason, 'full');
  assert.equal(admission({}, { draining: true }).check('wyoming', { address: 'a' })?.reason, 'shutting_down');
  // Origin before token, on the browser-reachable entries only.
  assert.equal(admission().check('stream', { ...request(foreign), address: 'a' })?.status, 403);
  assert.equal(admission().check('api', request(foreign, '/v1/models'))?.code, 'FORBIDDEN_ORIGIN');
  assert.equal(admission().check('metrics', request({ ...foreign, ...bearer }, '/metrics')), undefined);
  assert.equal(admission().check('metrics', request({}, '/metrics'))?.status, 401);
  // A signed token opens the stream entries, never the API.
  const signed = { authorization: `Bearer ${signToken(TOKEN, { ttlSeconds: 60 })}` };
  assert.equal(admission().check('api', request(signed, '/v1/models'))?.code, 'UNAUTHORIZED');
  const a = admission();
  assert.equal(a.check('stream', { ...request(signed), address: 'a' }), undefined);
  // The connection cap, then the route's own check, then the client's share (taken only when all passed).
  assert.equal(admission({ maxConnections: 1 }, { connections: 1 }).check('wyoming', { address: 'b' })?.reason, 'connections');
  assert.equal(a.check('stream', { ...request(bearer), address: 'a', validate: () => 'bad query' })?.status, 400);
  assert.equal(a.check('stream', { ...request(bearer), address: 'a' }), undefined);
  const third = a.check('stream', { ...request(bearer), address: 'a' });
  assert.equal(third?.status, 429);
  assert.equal(third?.reason, 'client_connections');
  a.release('a');
  assert.equal(a.check('wyoming', { address: 'a' }), undefined, 'Wyoming and WebSocket connections share the client\'s share');
});
