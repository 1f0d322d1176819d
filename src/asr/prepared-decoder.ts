import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { splitMergedDecoder, type MoonshineGeometry, type SplitDecoder } from './moonshine-graph.ts';

/** Folder of the split decoder inside a model's folder; a new version whenever splitMergedDecoder's output changes. */
export const PREPARED_DIR = 'earshot-decoder-v5';
const EARLIER_VERSIONS = /^earshot-decoder-v\d+$/;

export interface PreparedDecoder {
  /** A file path, or the model itself where the model folder cannot be written. */
  crossKv: string | Uint8Array;
  step: string | Uint8Array;
  prefill: string | Uint8Array;
  geometry: MoonshineGeometry;
}

const GRAPHS = ['crossKv', 'step', 'prefill'] as const;
type GraphName = (typeof GRAPHS)[number];

interface Manifest {
  geometry: MoonshineGeometry;
  bytes: Record<GraphName, number>;
}

/**
 * The split decoder (moonshine-graph.ts) of the merged one in `dir`, written beside it on first use. Later loads
 * read the files directly: no rewrite, and none of its ~90 MB of short-lived buffers in the loading thread, which an
 * idle worker would hold until its next garbage collection.
 */
export async function prepareDecoder(dir: string): Promise<PreparedDecoder> {
  const folder = path.join(dir, PREPARED_DIR);
  const files: Record<GraphName, string> = {
    crossKv: path.join(folder, 'cross_kv.onnx'),
    step: path.join(folder, 'decoder_step.onnx'),
    prefill: path.join(folder, 'decoder_prefill.onnx'),
  };
  const manifestFile = path.join(folder, 'manifest.json');
  const prepared = await readManifest(manifestFile, files);
  if (prepared) return { ...files, geometry: prepared.geometry };

  const merged = path.join(dir, 'decoder_model_merged.onnx');
  let split: SplitDecoder;
  try {
    split = splitMergedDecoder(await fs.readFile(merged));
  } catch (e) {
    throw new Error(`cannot load ${merged}: ${(e as Error).message}`);
  }
  try {
    await fs.mkdir(folder, { recursive: true });
    for (const graph of GRAPHS) await writeAtomically(files[graph], split[graph]);
    // Last: a manifest says the files beside it are complete.
    const bytes = Object.fromEntries(GRAPHS.map((graph) => [graph, split[graph].length])) as Manifest['bytes'];
    const manifest: Manifest = { geometry: split.geometry, bytes };
    await writeAtomically(manifestFile, JSON.stringify(manifest));
    await removeEarlierVersions(dir);
    return { ...files, geometry: split.geometry };
  } catch {
    return split; // a read-only model cache still works, from memory
  }
}

async function readManifest(file: string, files: Record<GraphName, string>): Promise<Manifest | undefined> {
  try {
    const manifest = JSON.parse(await fs.readFile(file, 'utf8')) as Manifest;
    const sizes = await Promise.all(GRAPHS.map((graph) => fs.stat(files[graph])));
    return sizes.every((s, i) => s.size === manifest.bytes[GRAPHS[i]!]) ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/** What earlier versions wrote (each a copy of the decoder's weights, 20-40 MB) is no longer read. */
async function removeEarlierVersions(dir: string): Promise<void> {
  for (const name of await fs.readdir(dir)) {
    if (name !== PREPARED_DIR && EARLIER_VERSIONS.test(name)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  }
}

/** Several workers may prepare the same model at once: each writes its own temporary file, renames are atomic. */
async function writeAtomically(file: string, data: Uint8Array | string): Promise<void> {
  const temp = `${file}.${randomUUID()}.partial`;
  try {
    await fs.writeFile(temp, data);
    await fs.rename(temp, file);
  } finally {
    await fs.rm(temp, { force: true });
  }
}
