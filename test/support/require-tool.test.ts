import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { findTool, requireTool, skipWithout } from './require-tool.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-tools-'));
const saved = { PATH: process.env.PATH, CI: process.env.CI, EARSHOT_FFMPEG: process.env.EARSHOT_FFMPEG };
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Runs `run` with `env` set (undefined: unset), then puts the saved values back. */
function withEnv(env: Record<string, string | undefined>, run: () => void): void {
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    run();
  } finally {
    for (const k of Object.keys(env)) {
      const v = saved[k as keyof typeof saved];
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

test('a tool is found on PATH, executable files only; EARSHOT_<TOOL> overrides', () => {
  const empty = path.join(dir, 'empty');
  const bin = path.join(dir, 'bin');
  fs.mkdirSync(empty);
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(empty, 'ffmpeg'), 'not executable');
  fs.writeFileSync(path.join(bin, 'ffmpeg'), '#!/bin/sh\n', { mode: 0o755 });
  fs.writeFileSync(path.join(bin, 'chromium-browser'), '#!/bin/sh\n', { mode: 0o755 });
  withEnv({ PATH: `${empty}${path.delimiter}${bin}`, EARSHOT_FFMPEG: undefined }, () => {
    assert.equal(findTool('ffmpeg'), path.join(bin, 'ffmpeg'));
    assert.equal(findTool('chromium'), path.join(bin, 'chromium-browser'), 'Chromium under any of its names');
  });
  withEnv({ PATH: empty, EARSHOT_FFMPEG: path.join(bin, 'ffmpeg') }, () => assert.equal(findTool('ffmpeg'), path.join(bin, 'ffmpeg')));
  withEnv({ PATH: bin, EARSHOT_FFMPEG: path.join(empty, 'ffmpeg') }, () => assert.equal(findTool('ffmpeg'), undefined, 'an override that does not run'));
});

test('a missing tool: skipped with the install command off CI; under CI=true not skipped, and requireTool fails naming it', () => {
  withEnv({ PATH: path.join(dir, 'nowhere'), EARSHOT_FFMPEG: undefined, CI: undefined }, () => {
    assert.equal(skipWithout('ffmpeg'), 'ffmpeg not on PATH (apt-get install -y ffmpeg)');
  });
  withEnv({ PATH: path.join(dir, 'nowhere'), EARSHOT_FFMPEG: undefined, CI: 'true' }, () => {
    assert.equal(skipWithout('ffmpeg'), false);
    assert.throws(() => requireTool('ffmpeg'), /ffmpeg is required \(CI=true\) and is not on PATH: apt-get install -y ffmpeg/);
  });
});
