/** Where a model's files come from: an npm package tarball (via the user's registry) or plain HTTPS hosting. */
export type ModelSource =
  | { kind: 'npm'; package: string; version: string }
  | { kind: 'url'; baseUrl: string };

export interface ModelFile {
  /** Path inside the tarball (without the leading "package/") or relative to the base URL. */
  source: string;
  /** Name in the model's cache folder. */
  name: string;
  sha256: string;
  bytes: number;
}

export interface ModelEntry {
  name: string;
  description: string;
  role: 'asr' | 'vad';
  source: ModelSource;
  files: ModelFile[];
  /** Pulled by `npm install`. */
  default: boolean;
}

export const CATALOG: ModelEntry[] = [
  {
    name: 'moonshine-tiny',
    description: 'Moonshine tiny (English, 27M params, int8): realtime partials',
    role: 'asr',
    source: { kind: 'npm', package: '@moonshine-ai/moonshine-js', version: '0.1.29' },
    files: [
      { source: 'dist/model/tiny/quantized/encoder_model.onnx', name: 'encoder_model.onnx', bytes: 7937661, sha256: 'c6fc4b7bc5af75c0591fd157a1f3829b533d18e9769a888fd95a62e470dd4f4a' },
      { source: 'dist/model/tiny/quantized/decoder_model_merged.onnx', name: 'decoder_model_merged.onnx', bytes: 20243286, sha256: 'eed87831c3a6103534aae7d47a5d485025c659a1323901513961c39fe8a1a367' },
    ],
    default: true,
  },
  {
    name: 'moonshine-base',
    description: 'Moonshine base (English, 61M params, int8): finals',
    role: 'asr',
    source: { kind: 'npm', package: '@usefulsensors/moonshine-js', version: '0.1.10' },
    files: [
      { source: 'dist/model/base/quantized/encoder_model.onnx', name: 'encoder_model.onnx', bytes: 20513063, sha256: '1dd9ab0a7f987113d30affcba5a068d11c8f90fa0223caa3e491ade431ad9751' },
      { source: 'dist/model/base/quantized/decoder_model_merged.onnx', name: 'decoder_model_merged.onnx', bytes: 42498870, sha256: 'cc9f3cd6698a369c6008b41aa60aa3fb3322e7f03c9bdf19d8e6b7200afca4f3' },
    ],
    default: true,
  },
  {
    name: 'silero-vad',
    description: 'Silero VAD v5: confirms speech after the WebRTC gate',
    role: 'vad',
    source: { kind: 'npm', package: '@ricky0123/vad-web', version: '0.0.31' },
    files: [
      { source: 'dist/silero_vad_v5.onnx', name: 'silero_vad_v5.onnx', bytes: 2327524, sha256: '2623a2953f6ff3d2c1e61740c6cdb7168133479b267dfef114a4a3cc5bdd788f' },
    ],
    default: true,
  },
];

export function findModel(name: string, catalog: ModelEntry[] = CATALOG): ModelEntry {
  const entry = catalog.find((m) => m.name === name);
  if (!entry) throw new ModelError('UNKNOWN_MODEL', `unknown model "${name}"; known: ${catalog.map((m) => m.name).join(', ')}`);
  return entry;
}

export type ModelErrorCode = 'UNKNOWN_MODEL' | 'MODEL_MISSING' | 'CHECKSUM_MISMATCH' | 'DOWNLOAD_FAILED' | 'FILE_NOT_IN_SOURCE';

export class ModelError extends Error {
  constructor(readonly code: ModelErrorCode, message: string) {
    super(message);
    this.name = 'ModelError';
  }
}
