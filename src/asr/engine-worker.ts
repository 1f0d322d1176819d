/**
 * Worker thread that owns ONNX sessions. onnxruntime-node runs inference synchronously on the calling thread (its
 * async run() only defers the call with setImmediate), so every ASR job runs here, off the server's event loop.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { CrossCheckEngine } from './cross-check-engine.ts';
import type { AsrEngine } from './engine.ts';
import { MoonshineEngine } from './moonshine-engine.ts';
import { threadTime, threadTimeSince } from './thread-cpu.ts';
import type { ModelLocation, WorkerData, WorkerReply, WorkerRequest } from './worker-protocol.ts';

const { models, threads } = workerData as WorkerData;
const port = parentPort!;
/** Every model loaded here, once each (a cross-check model may also be one the worker runs alone). */
const loaded = new Map<string, MoonshineEngine>();
/** What a job names: the model itself, or it cross-checked by another. */
const engines = new Map<string, AsrEngine>();
const running = new Map<number, AbortController>();
/**
 * Every job leaves megabytes of dead buffers (its audio, the encoder output, each decoder step's cache tensors) outside
 * the JS heap, where they do not fill the young generation: left to V8 they pile up between collections. A young-
 * generation collection once they pass EXTERNAL_SLACK_BYTES frees them at no cost in speed; the slack keeps it to one
 * collection every few jobs (docs/decisions/0012-memory-settings.md).
 */
const EXTERNAL_SLACK_BYTES = 16 * 1024 * 1024;
v8.setFlagsFromString('--expose-gc');
const collectYoungGeneration = (vm.runInNewContext('gc') as (options: { type: 'minor' }) => void).bind(undefined, { type: 'minor' });
const collectPiledUpBuffers = () => {
  if (v8.getHeapStatistics().external_memory > EXTERNAL_SLACK_BYTES) collectYoungGeneration();
};

/**
 * onnxruntime's first runs are several times slower (allocator arenas grow, kernels get prepared): measured 2.7 s
 * for a 1 s utterance on a cold base model. Two runs on a few seconds of faint noise pay that before any user does.
 */
async function warmUp(engine: AsrEngine): Promise<void> {
  let seed = 1;
  const noise = Float32Array.from({ length: 16000 * 4 }, () => ((seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5) * 0.01);
  for (let i = 0; i < 2; i++) await engine.transcribe(noise);
}

/**
 * A worker holding a model twice (for partials and as another's cross-check) loads it once, as its own entry asks
 * (main models load first): partials keep the graph that reads prefixes and drafts in one call.
 */
async function load({ name, dir, prefixes }: ModelLocation): Promise<MoonshineEngine> {
  let engine = loaded.get(name);
  if (!engine) {
    engine = await MoonshineEngine.load({ name, dir, threads, prefixes });
    await warmUp(engine);
    loaded.set(name, engine);
  }
  return engine;
}

try {
  for (const model of models) engines.set(model.name, await load(model));
  for (const { name, checkWith } of models) {
    if (!checkWith) continue;
    const check = await load(checkWith);
    engines.set(name, new CrossCheckEngine(loaded.get(name)!, check));
    if (!engines.has(checkWith.name)) engines.set(checkWith.name, check);
  }
  port.postMessage({ type: 'ready', maxAudioSeconds: Object.fromEntries([...engines].map(([name, e]) => [name, e.maxAudioSeconds])) } satisfies WorkerReply);
} catch (e) {
  port.postMessage({ type: 'load-error', message: (e as Error).message } satisfies WorkerReply);
}

let current: Promise<void> = Promise.resolve();

port.on('message', (request: WorkerRequest) => {
  if (request.type === 'cancel') {
    running.get(request.id)?.abort();
  } else if (request.type === 'die') {
    process.exit(70); // in a worker thread this ends the thread only
  } else if (request.type === 'exit') {
    // Never let the thread be terminated inside a native run: that aborts the whole process.
    for (const controller of running.values()) controller.abort();
    void current.then(async () => {
      await Promise.all([...loaded.values()].map((e) => e.dispose()));
      port.close();
    });
  } else {
    current = transcribe(request);
  }
});

async function transcribe(request: Extract<WorkerRequest, { type: 'transcribe' }>): Promise<void> {
  const controller = new AbortController();
  running.set(request.id, controller);
  try {
    const engine = engines.get(request.model);
    if (!engine) throw new Error(`model ${request.model} is not loaded in this worker`);
    const started = threadTime();
    const transcript = await engine.transcribe(request.samples, { ...request.options, signal: controller.signal });
    port.postMessage({ type: 'result', id: request.id, transcript: { ...transcript, thread: threadTimeSince(started) } } satisfies WorkerReply);
  } catch (e) {
    const error = e as Error;
    port.postMessage({ type: 'error', id: request.id, name: error.name, message: error.message } satisfies WorkerReply);
  } finally {
    running.delete(request.id);
    collectPiledUpBuffers();
  }
}
