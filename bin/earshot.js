#!/usr/bin/env node
// The `earshot` command runs the compiled JavaScript in dist/ (`npm run build`, which `npm install` runs).
let cli;
try {
  cli = await import('../dist/cli/main.js');
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist/cli/main.js')) throw err;
  console.error('earshot: dist/ is not built; run `npm run build` (npm install runs it)');
  process.exit(1);
}
process.exitCode = await cli.main(process.argv.slice(2));
