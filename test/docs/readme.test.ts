/**
 * The README is a front page: short, its test command the one CI runs, and every relative link in it and in docs/
 * pointing at a file that exists; so does every docs/ page a source comment points at.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const README = path.join(ROOT, 'README.md');

function filesUnder(dir: string, extension: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(full, extension);
    return entry.name.endsWith(extension) ? [full] : [];
  });
}

test('README: at most 300 lines, and its test command is the one .ci/run runs', () => {
  const readme = fs.readFileSync(README, 'utf8');
  const lines = readme.split('\n').length;
  assert.ok(lines <= 300, `README.md has ${lines} lines`);
  assert.match(readme, /^npm test\b/m, 'the README gives `npm test` as the test command');
  assert.match(fs.readFileSync(path.join(ROOT, '.ci/run'), 'utf8'), /^npm test$/m, '.ci/run runs `npm test`');
});

test('README and docs/: every relative link points at a file that exists', () => {
  const broken: string[] = [];
  for (const file of [README, ...filesUnder(path.join(ROOT, 'docs'), '.md')]) {
    const text = fs.readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      if (!fs.existsSync(path.resolve(path.dirname(file), target!))) broken.push(`${path.relative(ROOT, file)} → ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});

test('src/: every docs/ page a comment points at exists', () => {
  const missing = new Set<string>();
  for (const file of filesUnder(path.join(ROOT, 'src'), '.ts')) {
    for (const [page] of fs.readFileSync(file, 'utf8').matchAll(/\bdocs\/[\w./-]+\.md\b/g)) {
      if (!fs.existsSync(path.join(ROOT, page))) missing.add(`${path.relative(ROOT, file)} → ${page}`);
    }
  }
  assert.deepEqual([...missing], []);
});
