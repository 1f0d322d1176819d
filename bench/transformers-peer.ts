/**
 * Peer for `npm run bench`: the SAME Moonshine ONNX files our engine runs (from the local model cache), run by
 * @huggingface/transformers' automatic-speech-recognition pipeline on its own onnxruntime-node, on the same clips.
 *
 * transformers.js wants a Hugging Face style model folder (config.json, generation_config.json,
 * preprocessor_config.json, tokenizer.json, tokenizer_config.json, onnx/<name>_quantized.onnx for dtype q8). Nothing
 * outside the npm registry is reachable, so that folder is built here in a temp dir: the ONNX files are symlinked
 * from ~/.cache/earshot/models/<model>/, the configs are written from the model geometry, and tokenizer.json is
 * generated from the Llama SentencePiece vocabulary and merges that llama-tokenizer-js embeds (the same vocabulary our
 * engine decodes with). Usage: node --import tsx bench/transformers-peer.ts [moonshine-tiny|moonshine-base]
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LlamaTokenizer } from 'llama-tokenizer-js';
import { clipSamples } from '../eval/conversation.ts';
import { SPEECH_CLIPS } from '../eval/speech.ts';
import { fastestPass } from './fastest-pass.ts';
import type { PeerResult } from './peers.ts';
import { wer } from '../eval/wer.ts';

export type PeerModel = 'moonshine-tiny' | 'moonshine-base';

/** Geometry of the published Moonshine checkpoints (UsefulSensors/moonshine-{tiny,base} config.json). */
const GEOMETRY: Record<PeerModel, { hidden: number; layers: number; heads: number; intermediate: number }> = {
  'moonshine-tiny': { hidden: 288, layers: 6, heads: 8, intermediate: 1152 },
  'moonshine-base': { hidden: 416, layers: 8, heads: 8, intermediate: 1664 },
};
const VOCAB_SIZE = 32768;
const BOS = 1;
const EOS = 2;
const SAMPLE_RATE = 16000;
/** Same safety cap as our engine (src/asr/moonshine-engine.ts): at most 15 tokens per second of audio, at least 10. */
const TOKENS_PER_SECOND = 15;
const MIN_TOKEN_CAP = 10;

const MODELS_DIR = path.join(os.homedir(), '.cache', 'earshot', 'models');

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 1)}\n`);
}

/**
 * A tokenizers-library tokenizer.json equivalent to Llama's (BPE, byte fallback, "▁" metaspace), built from the
 * vocabulary and merges llama-tokenizer-js embeds. Ids 32000..32767 exist in Moonshine's output layer but not in
 * Llama's vocabulary: they get placeholder special tokens so decoding with skip_special_tokens drops them.
 */
function llamaTokenizerJson(): unknown {
  const llama = new LlamaTokenizer();
  const vocab: Record<string, number> = {};
  llama.vocabById.forEach((token, id) => {
    vocab[token] = id;
  });
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const added = [special(0, '<unk>'), special(BOS, '<s>'), special(EOS, '</s>')];
  for (let id = llama.vocabById.length; id < VOCAB_SIZE; id++) {
    const content = `<<ST_${id - llama.vocabById.length}>>`;
    vocab[content] = id;
    added.push(special(id, content));
  }
  // The Map iterates in insertion order, which is merge priority order; keys are "left right" (no token has a space).
  const merges = [...llama.merges.keys()].map((k) => k.split(' ') as [string, string]);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null,
    post_processor: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, vocab, merges },
  };
}

/** Builds <root>/<model>/ in the layout transformers.js loads with dtype 'q8'; returns the root. */
export function buildModelFolder(model: PeerModel, root = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-tfjs-'))): string {
  const source = path.join(MODELS_DIR, model);
  const files = ['encoder_model', 'decoder_model_merged'];
  for (const f of files) {
    if (!fs.existsSync(path.join(source, `${f}.onnx`))) throw new Error(`${path.join(source, `${f}.onnx`)} is missing (run: earshot models pull ${model})`);
  }
  const dir = path.join(root, model);
  fs.mkdirSync(path.join(dir, 'onnx'), { recursive: true });
  for (const f of files) fs.symlinkSync(path.join(source, `${f}.onnx`), path.join(dir, 'onnx', `${f}_quantized.onnx`));
  const g = GEOMETRY[model];
  writeJson(path.join(dir, 'config.json'), {
    architectures: ['MoonshineForConditionalGeneration'],
    model_type: 'moonshine',
    is_encoder_decoder: true,
    hidden_size: g.hidden,
    intermediate_size: g.intermediate,
    encoder_num_hidden_layers: g.layers,
    decoder_num_hidden_layers: g.layers,
    encoder_num_attention_heads: g.heads,
    decoder_num_attention_heads: g.heads,
    encoder_num_key_value_heads: g.heads,
    decoder_num_key_value_heads: g.heads,
    encoder_hidden_act: 'gelu',
    decoder_hidden_act: 'silu',
    vocab_size: VOCAB_SIZE,
    max_position_embeddings: 194,
    partial_rotary_factor: 0.9,
    rope_theta: 10000,
    bos_token_id: BOS,
    decoder_start_token_id: BOS,
    eos_token_id: EOS,
    pad_token_id: EOS,
    use_cache: true,
  });
  writeJson(path.join(dir, 'generation_config.json'), { bos_token_id: BOS, decoder_start_token_id: BOS, eos_token_id: EOS, pad_token_id: EOS, max_length: 194 });
  writeJson(path.join(dir, 'preprocessor_config.json'), {
    processor_class: 'MoonshineProcessor',
    feature_extractor_type: 'MoonshineFeatureExtractor',
    feature_size: 1,
    sampling_rate: SAMPLE_RATE,
    padding_value: 0,
    padding_side: 'right',
    do_normalize: false,
    return_attention_mask: false,
  });
  writeJson(path.join(dir, 'tokenizer_config.json'), {
    tokenizer_class: 'LlamaTokenizer',
    bos_token: '<s>',
    eos_token: '</s>',
    unk_token: '<unk>',
    pad_token: '</s>',
    add_bos_token: true,
    add_eos_token: false,
    legacy: false,
    clean_up_tokenization_spaces: false,
    model_max_length: 194,
  });
  writeJson(path.join(dir, 'tokenizer.json'), llamaTokenizerJson());
  return root;
}

/** Version of the onnxruntime-node that transformers.js resolves (it pins its own copy). */
function bundledOrtVersion(): string {
  try {
    const tfjsMain = fileURLToPath(import.meta.resolve('@huggingface/transformers'));
    let dir = path.dirname(tfjsMain);
    while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
    for (let d = dir; ; d = path.dirname(d)) {
      const pkg = path.join(d, 'node_modules', 'onnxruntime-node', 'package.json');
      if (fs.existsSync(pkg)) return (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string }).version;
      if (path.dirname(d) === d) return 'unknown';
    }
  } catch {
    return 'unknown';
  }
}

function packageVersion(): string {
  try {
    const main = fileURLToPath(import.meta.resolve('@huggingface/transformers'));
    let dir = path.dirname(main);
    while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
    return (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '?';
  }
}

export interface TransformersPeerResult extends PeerResult {
  errors?: number;
  words?: number;
  audioSeconds?: number;
  loadMs?: number;
  peakRssMb?: number;
  hypotheses?: string[];
}

/**
 * The same weights through transformers.js' ASR pipeline: WER and real-time factor on the 12 speech clips, measured
 * in a child process. It has to be: transformers.js loads its own pinned onnxruntime-node (1.21), whose binding
 * fails to dlopen in a process that already holds our onnxruntime-node's libonnxruntime.so.1 (same soname, "version
 * `VERS_1.21.0' not found"), and a process of its own also keeps its peak RSS apart, as in engine-bench.ts.
 */
export async function transformersPeer(model: PeerModel): Promise<TransformersPeerResult> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', self, model],
      { cwd: path.dirname(path.dirname(self)), maxBuffer: 1 << 22, timeout: 600_000 },
      (error, stdout, stderr) => {
        const line = stdout.trim().split('\n').at(-1) ?? '';
        try {
          resolve(JSON.parse(line) as TransformersPeerResult);
        } catch {
          const reason = (stderr.trim().split('\n').find((l) => /error/i.test(l)) ?? error?.message ?? 'no output').trim();
          resolve({ name: `transformers.js (${model})`, note: `failed: ${reason}` });
        }
      },
    );
  });
}

/** transformersPeer() in this process; it must not have loaded our onnxruntime-node (see above). */
export async function transformersPeerInProcess(model: PeerModel): Promise<TransformersPeerResult> {
  const version = packageVersion();
  const name = `transformers.js ${version} (${model}, onnxruntime-node ${bundledOrtVersion()})`;
  let tf: typeof import('@huggingface/transformers');
  try {
    tf = await import('@huggingface/transformers');
  } catch (e) {
    const err = e as Error & { code?: string };
    const missing = err.code === 'ERR_MODULE_NOT_FOUND' && /@huggingface\/transformers/.test(err.message);
    return { name, note: missing ? 'skipped: @huggingface/transformers not installed (npm install -D @huggingface/transformers)' : `failed to load transformers.js: ${err.message.split('\n')[0]}` };
  }
  let root: string | undefined;
  try {
    root = buildModelFolder(model);
    tf.env.allowRemoteModels = false;
    tf.env.allowLocalModels = true;
    tf.env.localModelPath = root;
    const loadStart = performance.now();
    const asr = await tf.pipeline('automatic-speech-recognition', model, {
      dtype: 'q8',
      device: 'cpu',
      local_files_only: true,
      // Match our engine: one intra-op thread, sequential execution, all graph optimizations.
      session_options: { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3 },
    });
    const loadMs = performance.now() - loadStart;
    const clips = SPEECH_CLIPS.map((c) => ({ ...c, samples: clipSamples(c) }));
    const transcribe = async (samples: Float32Array) => {
      const seconds = samples.length / SAMPLE_RATE;
      const maxNewTokens = Math.max(MIN_TOKEN_CAP, Math.ceil(seconds * TOKENS_PER_SECOND));
      const out = (await asr(samples, { max_new_tokens: maxNewTokens, num_beams: 1, do_sample: false })) as { text: string };
      return out.text.trim();
    };
    const audioSeconds = clips.reduce((sum, c) => sum + c.samples.length / SAMPLE_RATE, 0);
    const { ms, texts } = await fastestPass(clips.map((c) => c.samples), transcribe); // as in engine-bench.ts
    const pairs = clips.map((c, i) => ({ reference: c.text, hypothesis: texts[i]! }));
    await asr.dispose();
    const result = wer(pairs);
    return { name, ...result, rtf: ms / 1000 / audioSeconds, audioSeconds, loadMs, hypotheses: texts };
  } catch (e) {
    return { name, note: `failed: ${(e as Error).message.split('\n')[0]}` };
  } finally {
    if (root) fs.rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const model = (process.argv[2] ?? 'moonshine-tiny') as PeerModel;
  if (!(model in GEOMETRY)) throw new Error(`unknown model "${model}" (moonshine-tiny or moonshine-base)`);
  const result = await transformersPeerInProcess(model);
  process.stdout.write(`${JSON.stringify({ ...result, peakRssMb: process.resourceUsage().maxRSS / 1024 })}\n`);
}
