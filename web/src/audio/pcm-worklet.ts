/**
 * AudioWorklet processor "pcm-capture": downmixes the microphone to mono at the AudioContext's rate, converts to
 * PCM16 little-endian and posts one frame of `frameSamples` samples at a time (with its RMS and peak for the level
 * meter). A `{type: 'flush'}` message posts the partial frame at once (flush: true), so stopping loses nothing.
 *
 * Loaded with `import url from './pcm-worklet.ts?worker&url'` so that Vite compiles and bundles it on its own.
 */

import { PROCESSOR_NAME, type PcmCaptureOptions, type PcmFrameMessage } from './pcm-frame.ts';

// AudioWorkletGlobalScope names (not in lib.dom); module-local declarations, resolved to the globals at runtime.
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: AudioWorkletNodeOptions);
}
declare function registerProcessor(name: string, ctor: new (options: AudioWorkletNodeOptions) => AudioWorkletProcessor): void;

class PcmCaptureProcessor extends AudioWorkletProcessor {
  private frame: Int16Array;
  private filled = 0;
  private sumSquares = 0;
  private peak = 0;

  constructor(options: AudioWorkletNodeOptions) {
    super(options);
    const requested = Number((options.processorOptions as Partial<PcmCaptureOptions> | undefined)?.frameSamples);
    this.frame = new Int16Array(Number.isInteger(requested) && requested > 0 ? requested : 1024);
    this.port.onmessage = (event: MessageEvent) => {
      if ((event.data as { type?: string } | null)?.type === 'flush') this.post(true);
    };
  }

  process(inputs: Float32Array[][]): boolean {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const count = channels.length;
    const length = channels[0]!.length;
    for (let i = 0; i < length; i++) {
      let s = 0;
      for (let c = 0; c < count; c++) s += channels[c]![i]!;
      if (count > 1) s /= count;
      if (!(s === s)) s = 0; // NaN
      const a = s < 0 ? -s : s;
      if (a > this.peak) this.peak = a;
      this.sumSquares += s * s;
      const v = Math.round(s * 32768);
      this.frame[this.filled++] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      if (this.filled === this.frame.length) this.post(false);
    }
    return true;
  }

  private post(flush: boolean): void {
    const n = this.filled;
    const pcm = this.frame.slice(0, n);
    const message: PcmFrameMessage = {
      type: 'audio',
      pcm: pcm.buffer,
      rms: n ? Math.sqrt(this.sumSquares / n) : 0,
      peak: this.peak,
      flush,
    };
    this.port.postMessage(message, [pcm.buffer]);
    this.filled = 0;
    this.sumSquares = 0;
    this.peak = 0;
  }
}

registerProcessor(PROCESSOR_NAME, PcmCaptureProcessor);
