import { parseArgs } from 'node:util';
import { consoleProgress } from '../models/progress.ts';
import { ModelStore } from '../models/store.ts';
import { UsageError } from './usage-error.ts';

export async function modelsCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const store = new ModelStore();
  if (sub === 'list') return list(store);
  if (sub === 'pull') return pull(store, rest);
  throw new UsageError('usage: earshot models list | earshot models pull [NAME...] [--default]');
}

async function list(store: ModelStore): Promise<number> {
  const rows = await Promise.all(
    store.catalog.map(async (m) => {
      const mb = m.files.reduce((sum, f) => sum + f.bytes, 0) / 1024 / 1024;
      return [m.name, `${mb.toFixed(1)} MB`, (await store.isInstalled(m.name)) ? 'installed' : 'not installed', m.description];
    }),
  );
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c)).join('  ')}\n`);
  process.stdout.write(`cache: ${store.dir}\n`);
  return 0;
}

/**
 * `--soft` is what `npm install` runs: a failure (offline, say) becomes a warning so the install itself still succeeds.
 */
async function pull(store: ModelStore, argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options: { default: { type: 'boolean' }, soft: { type: 'boolean' } } });
  const names = values.default || positionals.length === 0 ? store.catalog.filter((m) => m.default).map((m) => m.name) : positionals;
  let failed = 0;
  for (const name of names) {
    try {
      const result = await store.pull(name, { progress: consoleProgress() });
      process.stderr.write(`${name}: ${result === 'installed' ? 'installed' : 'already installed'} (${store.modelDir(name)})\n`);
    } catch (e) {
      if (!values.soft) throw e;
      failed++;
      process.stderr.write(`earshot: warning: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
  if (failed > 0) process.stderr.write(`earshot: ${failed} model(s) not pulled; run later: npx earshot models pull\n`);
  return 0;
}
