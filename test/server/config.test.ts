import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, resolveServerConfig } from '../../src/server/config.ts';

test('the cross-check model: service default, "none", a model, or a clear error', () => {
  assert.equal(resolveServerConfig([], {}).checkModel, undefined);
  assert.equal(resolveServerConfig(['--check-model', 'none'], {}).checkModel, null);
  assert.equal(resolveServerConfig([], { EARSHOT_CHECK_MODEL: 'none' }).checkModel, null);
  assert.equal(resolveServerConfig(['--check-model', 'moonshine-tiny'], {}).checkModel, 'moonshine-tiny');
  assert.throws(() => resolveServerConfig(['--check-model', 'whisper'], {}), (e: Error) => e instanceof ConfigError && /--check-model must be one of/.test(e.message));
});
