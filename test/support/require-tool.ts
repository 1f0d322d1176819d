/**
 * External tools the tests use (chromium, ffmpeg, haproxy, openssl). Off CI a test whose tool is
 * missing is skipped with the reason; under CI (CI=true) it runs and fails naming the tool, because the node runner
 * exits 0 on skips and a green run with tests skipped proves nothing.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

/** Read at each call, so that a test can set it. */
export const inCi = (): boolean => process.env.CI === 'true' || process.env.CI === '1';

/** How each tool is found and installed. Debian puts haproxy in /usr/sbin, which a non-root PATH may lack. */
const TOOLS = {
  chromium: { names: ['chromium', 'chromium-browser', 'google-chrome'], install: 'apt-get install -y chromium' },
  ffmpeg: { names: ['ffmpeg'], install: 'apt-get install -y ffmpeg' },
  haproxy: { names: ['haproxy'], install: 'apt-get install -y haproxy', sbin: true },
  openssl: { names: ['openssl'], install: 'apt-get install -y openssl' },
} as const;

export type Tool = keyof typeof TOOLS;

/** The tool's executable: an override from the environment (EARSHOT_CHROMIUM, ...), else the first on PATH. */
export function findTool(tool: Tool): string | undefined {
  const override = process.env[`EARSHOT_${tool.toUpperCase()}`];
  if (override) return isExecutable(override) ? override : undefined;
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  if ('sbin' in TOOLS[tool]) dirs.push('/usr/local/sbin', '/usr/sbin');
  for (const name of TOOLS[tool].names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

/** For a test's `skip` option: the reason off CI when the tool is missing; never under CI, so the test runs and fails. */
export function skipWithout(...tools: Tool[]): string | false {
  if (inCi()) return false;
  const missing = tools.filter((t) => !findTool(t));
  return missing.length ? `${missing.join(', ')} not on PATH (${missing.map((t) => TOOLS[t].install).join('; ')})` : false;
}

/** The tool's path, or an assertion failure naming the tool (reached under CI, where the test was not skipped). */
export function requireTool(tool: Tool): string {
  const found = findTool(tool);
  assert.ok(found, `${tool} is required (CI=${process.env.CI ?? ''}) and is not on PATH: ${TOOLS[tool].install}`);
  return found;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}
