/**
 * Moonshine's published decoder is one "merged" ONNX graph: an If node whose else-branch is the first step (it also
 * computes the cross-attention cache from the encoder output) and whose then-branch is every later step. Run as is,
 * each token pays for the If, for dequantizing the whole int8 output projection to float (32 768 × 416 values for
 * base: 54 MB written per token), and for ~1 000 nodes, many of them shape arithmetic that batch 1 and one token make
 * constant. Measured on base: 10.5 ms per token as published, about 3 ms after this rewrite; the same tokens.
 *
 * splitMergedDecoder() rewrites it once (prepared-decoder.ts keeps the result) into two graphs over the same weights (nothing is duplicated):
 * - crossKv: encoder_hidden_states → present.{layer}.encoder.{key,value}, run once per utterance;
 * - step: input_ids [1, 1] + past_key_values.* → present.{layer}.decoder.* and the next token's log-probabilities:
 *   all of them (logprobs [1, 1, vocabulary], for scoring a given token sequence) and the TOP_K best (top_logprobs,
 *   top_tokens [1, 1, TOP_K], for greedy and beam search), with the output projection as onnxruntime's int8 DynamicQuantizeMatMul, batch and sequence pinned to 1 so that
 *   onnxruntime folds the shape arithmetic into constants, and the rotary position embeddings and layer norms, which
 *   the export spells out in ~30 and 8 nodes each, as one fused onnxruntime node each (985 → 380 nodes on base).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type Graph = onnxProto.onnx.IGraphProto;
type Node = onnxProto.onnx.INodeProto;
type ValueInfo = onnxProto.onnx.IValueInfoProto;
type Tensor = onnxProto.onnx.ITensorProto;

export interface MoonshineGeometry {
  layers: number;
  heads: number;
  headDim: number;
}

export interface SplitDecoder {
  crossKv: Uint8Array;
  step: Uint8Array;
  prefill: Uint8Array;
  geometry: MoonshineGeometry;
}

/** Step graph outputs: log-softmax of the logits, and its TOP_K largest values with their token ids (best first). */
export const LOGPROBS = 'logprobs';
export const TOP_LOGPROBS = 'top_logprobs';
export const TOP_TOKENS = 'top_tokens';
/** Candidates per step for beam search: a beam of width w needs w + 1 (one may be the end token). */
export const TOP_K = 8;
const TOP_K_TENSOR = 'earshot_top_k';
const CROSS_KV_SHAPE = 'earshot_cross_kv_shape';

export function splitMergedDecoder(bytes: Uint8Array): SplitDecoder {
  const model = onnx.ModelProto.decode(bytes);
  const outer = model.graph;
  const ifNode = outer?.node?.length === 1 && outer.node[0]!.opType === 'If' ? outer.node[0]! : undefined;
  const branch = (name: string) => ifNode?.attribute?.find((a) => a.name === name)?.g;
  const firstStep = branch('else_branch');
  const laterSteps = branch('then_branch');
  if (!outer || !firstStep?.node || !laterSteps?.node) throw new Error('not a merged decoder (one If node with two branches expected)');

  const isCross = (v: ValueInfo) => /^present\.\d+\.encoder\./.test(v.name ?? '');
  const crossOutputs = firstStep.output!.filter(isCross);
  const geometry = geometryOf(crossOutputs);

  const shape = onnx.TensorProto.create({
    name: CROSS_KV_SHAPE,
    dims: [4],
    dataType: onnx.TensorProto.DataType.INT64,
    // [batch copied from the input, frames, heads, head size]: the export computes this from the decoder's own input.
    int64Data: [0, -1, geometry.heads, geometry.headDim],
  });
  const crossNodes = sliceTo(firstStep.node, names(crossOutputs), (node) => {
    if (node.opType === 'Reshape') node.input![1] = CROSS_KV_SHAPE;
  });

  const stepOutputs = laterSteps.output!.filter((v) => !isCross(v) && v.name !== 'logits');
  const valueInfo = (name: string, elemType: number, dims: Array<number | string>) =>
    onnx.ValueInfoProto.create({ name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } } });
  const { FLOAT, INT64 } = onnx.TensorProto.DataType;
  const vocabulary = Number(laterSteps.output!.find((v) => v.name === 'logits')?.type?.tensorType?.shape?.dim?.[2]?.dimValue ?? 0);
  if (!vocabulary) throw new Error('unexpected decoder layout: logits without a static vocabulary size');
  const scoreOutputs = (positions: number | string) => [
    valueInfo(LOGPROBS, FLOAT, [1, positions, vocabulary]),
    valueInfo(TOP_LOGPROBS, FLOAT, [1, positions, TOP_K]),
    valueInfo(TOP_TOKENS, INT64, [1, positions, TOP_K]),
  ];
  const topK = onnx.TensorProto.create({ name: TOP_K_TENSOR, dims: [1], dataType: INT64, int64Data: [TOP_K] });
  const scoring = [
    onnx.NodeProto.create({ name: 'earshot_log_softmax', opType: 'LogSoftmax', input: ['logits'], output: [LOGPROBS], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }] }),
    onnx.NodeProto.create({ name: 'earshot_top_k', opType: 'TopK', input: [LOGPROBS, TOP_K_TENSOR], output: [TOP_LOGPROBS, TOP_TOKENS] }),
  ];
  const constants = new Map(outer.initializer!.map((t) => [t.name!, t]));
  const rotary = rotaryEmbeddings(quantizedOutputProjection(laterSteps.node), constants, geometry.heads);
  const stepNodes = [...sliceTo(layerNorms(rotary.nodes, constants), ['logits', ...names(stepOutputs)]), ...scoring];

  const build = (name: string, nodes: Node[], outputs: ValueInfo[], pinned: string[], extra: Tensor[] = [], extraInputs: ValueInfo[] = []) => {
    const produced = new Set(nodes.flatMap((n) => n.output ?? []));
    const used = new Set(nodes.flatMap((n) => n.input ?? []).filter((i) => i && !produced.has(i)));
    const initializer = [...outer.initializer!, ...extra].filter((t) => used.has(t.name!));
    const input = [...outer.input!, ...extraInputs].filter((v) => used.has(v.name!));
    const known = new Set([...initializer, ...input].map((x) => x.name));
    const unresolved = [...used].filter((u) => !known.has(u));
    if (unresolved.length) throw new Error(`unexpected decoder layout: ${name} needs ${unresolved.slice(0, 3).join(', ')}`);
    const graph: Graph = { name, node: nodes, initializer, input: pin(input, pinned), output: pin(outputs, pinned) };
    return onnx.ModelProto.encode({
      irVersion: model.irVersion,
      producerName: 'earshot',
      opsetImport: [...model.opsetImport!, { domain: 'com.microsoft', version: 1 }],
      graph,
    }).finish();
  };

  const projectFrom = valueInfo(PROJECT_FROM, INT64, [1]);
  const endPosition = onnx.TensorProto.create({ name: END_POSITION, dims: [1], dataType: INT64, int64Data: [Number.MAX_SAFE_INTEGER] });
  const positionAxis = onnx.TensorProto.create({ name: POSITION_AXIS, dims: [1], dataType: INT64, int64Data: [1] });
  return {
    crossKv: build('cross_kv', crossNodes, crossOutputs, ['batch_size'], [shape]),
    step: build('step', stepNodes, [...stepOutputs, ...scoreOutputs(1)], ['batch_size', 'decoder_sequence_length'], [...rotary.initializers, topK]),
    prefill: build('prefill', projectedPositions(stepNodes), [...stepOutputs, ...scoreOutputs('projected_positions')], ['batch_size'], [...rotary.initializers, topK, endPosition, positionAxis], [projectFrom]),
    geometry,
  };
}

/** Layers from the number of cross-attention outputs; heads and head size from their static dims [b, heads, t, size]. */
function geometryOf(crossOutputs: ValueInfo[]): MoonshineGeometry {
  const dims = crossOutputs[0]?.type?.tensorType?.shape?.dim ?? [];
  const heads = Number(dims[1]?.dimValue ?? 0);
  const headDim = Number(dims[3]?.dimValue ?? 0);
  if (!heads || !headDim || !crossOutputs.length || crossOutputs.length % 2) throw new Error('unexpected decoder layout: cross-attention outputs');
  return { layers: crossOutputs.length / 2, heads, headDim };
}

function names(values: ValueInfo[]): string[] {
  return values.map((v) => v.name!);
}

/** The nodes that `outputs` depend on, in graph order; `visit` sees each before its inputs are followed. */
function sliceTo(nodes: Node[], outputs: string[], visit?: (node: Node) => void): Node[] {
  const producer = producers(nodes);
  const keep = new Set<Node>();
  const pending = [...outputs];
  while (pending.length) {
    const node = producer.get(pending.pop()!);
    if (!node || keep.has(node)) continue;
    keep.add(node);
    visit?.(node);
    pending.push(...(node.input ?? []).filter(Boolean));
  }
  return nodes.filter((n) => keep.has(n));
}

/**
 * logits = MatMul(x, DequantizeLinear(W_int8)) dequantizes the whole vocabulary projection on every token; an int8
 * matrix product with the activations quantized on the fly reads the int8 weights directly. Left alone when the
 * graph does not have that shape.
 */
function quantizedOutputProjection(nodes: Node[]): Node[] {
  const producer = producers(nodes);
  const matmul = producer.get('logits');
  const dequantize = matmul?.opType === 'MatMul' ? producer.get(matmul.input![1]!) : undefined;
  if (!matmul || dequantize?.opType !== 'DequantizeLinear') return nodes;
  const [weights, scale, zeroPoint] = dequantize.input!;
  const projection = onnx.NodeProto.create({
    name: 'earshot_output_projection',
    opType: 'DynamicQuantizeMatMul',
    domain: 'com.microsoft',
    input: [matmul.input![0]!, weights!, scale!, zeroPoint ?? ''],
    output: ['logits'],
  });
  return nodes.map((n) => (n === matmul ? projection : n)).filter((n) => n !== dequantize);
}

/** The prefill graph's input: the first position (of the tokens it reads) whose next token it predicts; -1 for the last only. */
export const PROJECT_FROM = 'project_from';
const END_POSITION = 'earshot_end_position';
const POSITION_AXIS = 'earshot_position_axis';

/**
 * For the prefill graph (several tokens in one call, their causal mask built by the export): the next token is wanted
 * after the positions from PROJECT_FROM on only (the last one, after a prefix; each one of a draft being checked), so
 * the vocabulary projection reads only their hidden states.
 */
function projectedPositions(nodes: Node[]): Node[] {
  const projection = producers(nodes).get('logits')!;
  const hidden = projection.input![0]!;
  const last = `${hidden}_projected`;
  const slice = onnx.NodeProto.create({ name: 'earshot_projected_positions', opType: 'Slice', input: [hidden, PROJECT_FROM, END_POSITION, POSITION_AXIS], output: [last] });
  const sliced = onnx.NodeProto.create({ ...projection, input: [last, ...projection.input!.slice(1)] });
  return nodes.flatMap((n) => (n === projection ? [slice, sliced] : [n]));
}

/** Positions the rotary tables cover: more than the longest decode (30 s × 15 tokens per second, moonshine-engine.ts). */
const ROTARY_POSITIONS = 512;

/**
 * The export rotates the first dims of each query and key head in ~30 nodes: Slice the rotated part and the rest,
 * multiply by cos, pair up the dims (-x1, x0, -x3, x2, …) by Slice, Neg, Unsqueeze, Concat and Reshape, multiply by
 * sin, add, Concat the rest back. onnxruntime's RotaryEmbedding (interleaved) does the same from cos/sin tables built
 * here from the export's inverse frequencies. Left alone when the graph does not have that shape.
 */
function rotaryEmbeddings(nodes: Node[], constants: Map<string, Tensor>, heads: number): { nodes: Node[]; initializers: Tensor[] } {
  const producer = producers(nodes);
  const cos = nodes.find((n) => n.opType === 'Cos');
  const sin = nodes.find((n) => n.opType === 'Sin');
  // Cos ← … ← MatMul(inverse frequencies, positions) ← Cast/Unsqueeze ← Range(past length, past length + tokens).
  const upstream = (value: string, through: string[], until: string): Node | undefined => {
    for (let n = producer.get(value); n; n = producer.get(n.input![0]!)) {
      if (n.opType === until) return n;
      if (!through.includes(n.opType!)) return undefined;
    }
    return undefined;
  };
  const angles = cos && upstream(cos.input![0]!, ['Reshape', 'Concat', 'Unsqueeze', 'Transpose'], 'MatMul');
  const invFreq = angles && constantValues(constants, angles.input![0]!);
  // onnxruntime's RotaryEmbedding takes the first position (a scalar) and counts on from there over the sequence.
  const positions = angles && upstream(angles.input![1]!, ['Cast', 'Unsqueeze'], 'Range')?.input![0];
  if (!sin || !invFreq?.length || !positions) return { nodes, initializers: [] };

  const half = invFreq.length;
  const table = (f: (x: number) => number) => {
    const values = new Float32Array(ROTARY_POSITIONS * half);
    for (let p = 0; p < ROTARY_POSITIONS; p++) for (let i = 0; i < half; i++) values[p * half + i] = f(p * invFreq[i]!);
    return values;
  };
  const tensor = (name: string, values: Float32Array) =>
    onnx.TensorProto.create({ name, dims: [ROTARY_POSITIONS, half], dataType: onnx.TensorProto.DataType.FLOAT, rawData: new Uint8Array(values.buffer) });
  const initializers = [tensor('earshot_rotary_cos', table(Math.cos)), tensor('earshot_rotary_sin', table(Math.sin))];

  const from = (value: string, op: Node) => upstream(value, ['Unsqueeze', 'Expand'], op.opType!) === op;
  let fused = 0;
  const rewritten = nodes.map((concat) => {
    const [rotatedName, restName] = concat.opType === 'Concat' && concat.input?.length === 2 ? concat.input : [];
    const rotated = producer.get(rotatedName!);
    const rest = producer.get(restName!);
    const [byCos, bySin] = rotated?.opType === 'Add' ? rotated.input!.map((i) => producer.get(i)) : [];
    const part = byCos?.opType === 'Mul' ? producer.get(byCos.input![0]!) : undefined;
    const matches =
      rest?.opType === 'Slice' &&
      bySin?.opType === 'Mul' &&
      from(byCos!.input![1]!, cos!) &&
      from(bySin.input![1]!, sin) &&
      part?.opType === 'Slice' &&
      part.input![0] === rest.input![0] &&
      constantValues(constants, part.input![1]!)?.[0] === 0 &&
      constantValues(constants, part.input![2]!)?.[0] === 2 * half;
    if (!matches) return concat;
    fused++;
    return onnx.NodeProto.create({
      name: `${concat.name}_rotary`,
      opType: 'RotaryEmbedding',
      domain: 'com.microsoft',
      input: [part.input![0]!, positions, 'earshot_rotary_cos', 'earshot_rotary_sin'],
      output: concat.output,
      attribute: [
        { name: 'interleaved', type: onnx.AttributeProto.AttributeType.INT, i: 1 },
        { name: 'rotary_embedding_dim', type: onnx.AttributeProto.AttributeType.INT, i: 2 * half },
        { name: 'num_heads', type: onnx.AttributeProto.AttributeType.INT, i: heads },
      ],
    });
  });
  return fused ? { nodes: rewritten, initializers } : { nodes, initializers: [] };
}

/**
 * The export's layer norm (no bias) is 8 nodes: ReduceMean, Sub, Pow 2, ReduceMean, Add ε, Sqrt, Div, Mul γ; as one
 * LayerNormalization (onnxruntime's own, which its optimizer would emit) where the in-between values go nowhere else.
 */
function layerNorms(nodes: Node[], constants: Map<string, Tensor>): Node[] {
  const producer = producers(nodes);
  const uses = new Map<string, number>();
  for (const n of nodes) for (const i of n.input ?? []) uses.set(i, (uses.get(i) ?? 0) + 1);
  const replaced = new Map<Node, Node>();
  const dropped = new Set<Node>();
  for (const scale of nodes) {
    if (scale.opType !== 'Mul' || !constants.has(scale.input![1]!)) continue;
    const div = producer.get(scale.input![0]!);
    const centered = div?.opType === 'Div' ? producer.get(div.input![0]!) : undefined;
    const sqrt = div?.opType === 'Div' ? producer.get(div.input![1]!) : undefined;
    const addEps = sqrt?.opType === 'Sqrt' ? producer.get(sqrt.input![0]!) : undefined;
    const variance = addEps?.opType === 'Add' ? producer.get(addEps.input![0]!) : undefined;
    const square = variance?.opType === 'ReduceMean' ? producer.get(variance.input![0]!) : undefined;
    const mean = centered?.opType === 'Sub' ? producer.get(centered.input![1]!) : undefined;
    const epsilon = addEps && constantValues(constants, addEps.input![1]!)?.[0];
    const lastAxis = (n: Node) => n.attribute?.some((a) => a.name === 'axes' && a.ints?.length === 1 && Number(a.ints[0]) === -1);
    const inner = [mean, centered, square, variance, addEps, sqrt, div];
    const matches =
      square?.opType === 'Pow' &&
      constantValues(constants, square.input![1]!)?.[0] === 2 &&
      mean?.opType === 'ReduceMean' &&
      mean.input![0] === centered!.input![0] &&
      square.input![0] === centered!.output![0] &&
      lastAxis(mean) &&
      lastAxis(variance!) &&
      epsilon !== undefined &&
      // centered feeds Pow and Div; every other in-between value only its successor
      inner.every((n) => uses.get(n!.output![0]!) === (n === centered ? 2 : 1));
    if (!matches) continue;
    for (const n of inner) dropped.add(n!);
    replaced.set(
      scale,
      onnx.NodeProto.create({
        name: `${scale.name}_layer_norm`,
        opType: 'LayerNormalization',
        input: [mean!.input![0]!, scale.input![1]!],
        output: scale.output,
        attribute: [
          { name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 },
          { name: 'epsilon', type: onnx.AttributeProto.AttributeType.FLOAT, f: epsilon },
        ],
      }),
    );
  }
  return nodes.filter((n) => !dropped.has(n)).map((n) => replaced.get(n) ?? n);
}

function producers(nodes: Node[]): Map<string, Node> {
  return new Map(nodes.flatMap((n) => (n.output ?? []).map((o) => [o, n] as const)));
}

/** The values of a small float or int64 constant, or undefined. */
function constantValues(constants: Map<string, Tensor>, name: string): number[] | undefined {
  const t = constants.get(name);
  const count = (t?.dims ?? []).reduce((a, d) => a * Number(d), 1);
  if (!t || count > 4096) return undefined;
  if (t.floatData?.length) return [...t.floatData];
  if (t.int64Data?.length) return t.int64Data.map(Number);
  if (!t.rawData?.length) return undefined;
  const bytes = Uint8Array.from(t.rawData).buffer; // a copy: rawData may sit at an unaligned offset
  if (t.dataType === onnx.TensorProto.DataType.FLOAT) return [...new Float32Array(bytes)];
  if (t.dataType === onnx.TensorProto.DataType.INT64) return [...new BigInt64Array(bytes)].map(Number);
  return undefined;
}

/** Copies of `values` with the named symbolic dims fixed to 1. */
function pin(values: ValueInfo[], dims: string[]): ValueInfo[] {
  return values.map((v) => {
    const copy = onnx.ValueInfoProto.decode(onnx.ValueInfoProto.encode(v).finish());
    for (const d of copy.type?.tensorType?.shape?.dim ?? []) {
      if (d.dimParam && dims.includes(d.dimParam)) {
        delete d.dimParam; // one of dimParam / dimValue: an encoded empty dimParam would still win
        d.dimValue = 1;
      }
    }
    return copy;
  });
}
