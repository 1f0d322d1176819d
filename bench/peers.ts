import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SPEECH_CLIPS } from '../eval/speech.ts';
import { wer } from '../eval/wer.ts';

export interface PeerResult {
  name: string;
  wer?: number;
  rtf?: number;
  note?: string;
}

/** CMU pocketsphinx from Debian (`apt-get install pocketsphinx pocketsphinx-en-us`), on the same clips. */
export async function pocketsphinx(): Promise<PeerResult> {
  const name = 'pocketsphinx 5prealpha (Debian)';
  const run = promisify(execFile);
  try {
    await run('pocketsphinx_continuous', ['-h'], { timeout: 10000 }).catch((e: { code?: string }) => {
      if (e.code === 'ENOENT') throw e;
    });
  } catch {
    return { name, note: 'skipped: pocketsphinx_continuous not installed (apt-get install pocketsphinx pocketsphinx-en-us)' };
  }
  const pairs = [];
  let seconds = 0;
  const started = performance.now();
  for (const c of SPEECH_CLIPS) {
    const { stdout } = await run('pocketsphinx_continuous', ['-infile', c.path, '-logfn', '/dev/null'], { timeout: 120000 });
    pairs.push({ reference: c.text, hypothesis: stdout.trim() });
    seconds += (await import('node:fs')).statSync(c.path).size / 32000;
  }
  return { name, wer: wer(pairs).wer, rtf: (performance.now() - started) / 1000 / seconds };
}
