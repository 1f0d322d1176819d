import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PREPARED_DIR, prepareDecoder } from '../../src/asr/prepared-decoder.ts';
import { ModelStore } from '../../src/models/store.ts';

describe('prepared decoder (real tiny model)', () => {
  let dir: string;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-prepared-'));
    fs.copyFileSync(path.join(await new ModelStore().require('moonshine-tiny'), 'decoder_model_merged.onnx'), path.join(dir, 'decoder_model_merged.onnx'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('writes the split graphs beside the model once, then reads them; earlier versions go', async () => {
    fs.mkdirSync(path.join(dir, 'earshot-decoder-v1'));
    fs.writeFileSync(path.join(dir, 'earshot-decoder-v1', 'decoder_step.onnx'), 'old');
    const first = await prepareDecoder(dir);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['decoder_model_merged.onnx', PREPARED_DIR]);
    assert.equal(typeof first.step, 'string');
    assert.deepEqual(first.geometry, { layers: 6, heads: 8, headDim: 36 });
    const written = fs.statSync(first.step as string).mtimeMs;
    const second = await prepareDecoder(dir);
    assert.deepEqual(second, first);
    assert.equal(fs.statSync(second.step as string).mtimeMs, written);
    assert.deepEqual(fs.readdirSync(path.dirname(first.step as string)).sort(), ['cross_kv.onnx', 'decoder_prefill.onnx', 'decoder_step.onnx', 'manifest.json']);
  });

  it('prepares again when a file does not match its manifest', async () => {
    const { step } = await prepareDecoder(dir);
    const size = fs.statSync(step as string).size;
    fs.truncateSync(step as string, 1000);
    await prepareDecoder(dir);
    assert.equal(fs.statSync(step as string).size, size);
  });

  it('works from memory where the model folder cannot be written', async () => {
    const blocked = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-blocked-'));
    fs.copyFileSync(path.join(dir, 'decoder_model_merged.onnx'), path.join(blocked, 'decoder_model_merged.onnx'));
    fs.writeFileSync(path.join(blocked, PREPARED_DIR), ''); // a file where the folder would go: fails even as root
    try {
      const prepared = await prepareDecoder(blocked);
      assert.ok(prepared.step instanceof Uint8Array && prepared.crossKv instanceof Uint8Array && prepared.prefill instanceof Uint8Array);
      assert.deepEqual(prepared.geometry, { layers: 6, heads: 8, headDim: 36 });
    } finally {
      fs.rmSync(blocked, { recursive: true, force: true });
    }
  });

  it('names the merged file when it is not a model', async () => {
    const broken = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-broken-'));
    fs.writeFileSync(path.join(broken, 'decoder_model_merged.onnx'), 'garbage');
    try {
      await assert.rejects(prepareDecoder(broken), /cannot load .*decoder_model_merged\.onnx/);
    } finally {
      fs.rmSync(broken, { recursive: true, force: true });
    }
  });
});
