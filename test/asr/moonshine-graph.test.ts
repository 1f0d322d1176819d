import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { MoonshineEngine } from '../../src/asr/moonshine-engine.ts';
import { splitMergedDecoder } from '../../src/asr/moonshine-graph.ts';
import { decodeTokens } from '../../src/asr/tokenizer.ts';
import { ModelStore } from '../../src/models/store.ts';
import { clipSamples } from '../../eval/conversation.ts';
import { clip } from '../../eval/speech.ts';

/** Greedy decoding with the published merged decoder, as its exporter meant it to run: the reference. */
async function mergedDecode(dir: string, samples: Float32Array, layers: number, heads: number, headDim: number): Promise<string> {
  const options = { intraOpNumThreads: 1, graphOptimizationLevel: 'all' } as const;
  const encoder = await ort.InferenceSession.create(path.join(dir, 'encoder_model.onnx'), options);
  const decoder = await ort.InferenceSession.create(path.join(dir, 'decoder_model_merged.onnx'), options);
  const { last_hidden_state: hidden } = await encoder.run({ input_values: new ort.Tensor('float32', samples, [1, samples.length]) });
  const empty = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
  const ids = new BigInt64Array([1n]);
  const useCache = new ort.Tensor('bool', new Uint8Array([0]), [1]);
  const feeds: Record<string, ort.Tensor> = { input_ids: new ort.Tensor('int64', ids, [1, 1]), encoder_hidden_states: hidden!, use_cache_branch: useCache };
  for (let l = 0; l < layers; l++) for (const half of ['decoder', 'encoder']) for (const kind of ['key', 'value']) feeds[`past_key_values.${l}.${half}.${kind}`] = empty;
  const tokens: number[] = [];
  for (let step = 0; step < Math.ceil((samples.length / 16000) * 6); step++) {
    const out = await decoder.run(feeds);
    const logits = out.logits!.data as Float32Array;
    const next = logits.indexOf(Math.max(...logits));
    if (next === 2) break;
    tokens.push(next);
    ids[0] = BigInt(next);
    for (let l = 0; l < layers; l++) {
      for (const half of step === 0 ? ['decoder', 'encoder'] : ['decoder']) {
        for (const kind of ['key', 'value']) feeds[`past_key_values.${l}.${half}.${kind}`] = out[`present.${l}.${half}.${kind}`]!;
      }
    }
    useCache.data[0] = 1;
  }
  await Promise.all([encoder.release(), decoder.release()]);
  return decodeTokens(tokens);
}

describe('Moonshine decoder split (real models)', () => {
  const store = new ModelStore();

  for (const [model, geometry] of [
    ['moonshine-tiny', { layers: 6, heads: 8, headDim: 36 }],
    ['moonshine-base', { layers: 8, heads: 8, headDim: 52 }],
  ] as const) {
    it(`${model}: reads the geometry off the graph and decodes what the merged decoder decodes`, async () => {
      const dir = await store.require(model);
      const split = splitMergedDecoder(fs.readFileSync(path.join(dir, 'decoder_model_merged.onnx')));
      assert.deepEqual(split.geometry, geometry);
      const engine = await MoonshineEngine.load({ name: model, dir });
      try {
        for (const name of ['goforward.wav', 'sense_and_sensibility_01_austen_64kb-0890.wav', 'jfk.wav']) {
          const samples = clipSamples(clip(name));
          const reference = await mergedDecode(dir, samples, geometry.layers, geometry.heads, geometry.headDim);
          assert.equal((await engine.transcribe(samples)).text, reference, name);
        }
      } finally {
        await engine.dispose();
      }
    });
  }

  it('refuses a graph that is not a merged decoder, by name', async () => {
    const dir = await store.require('moonshine-tiny');
    assert.throws(() => splitMergedDecoder(fs.readFileSync(path.join(dir, 'encoder_model.onnx'))), /not a merged decoder/);
    assert.throws(() => splitMergedDecoder(Buffer.from('not a model at all')), Error);
  });
});
