import { fvadModule, type FvadModule } from './fvad-module.ts';

/** libfvad aggressiveness, as RealtimeSTT's webrtc_sensitivity: 0 flags the most audio as speech, 3 the least. */
export type WebRtcMode = 0 | 1 | 2 | 3;

const FRAME_SECONDS = 0.03; // libfvad takes 10, 20 or 30 ms; the longest is the steadiest and cheapest per second

/**
 * The WebRTC voice activity detector (libfvad in WebAssembly): a crude but microsecond-cheap speech gate.
 * One instance per audio stream, since libfvad adapts to the stream's noise floor; call dispose() when done.
 */
export class WebRtcVad {
  /** Samples isSpeech() takes: 30 ms, 480 at 16 kHz. */
  readonly frameSamples: number;

  private constructor(
    private readonly wasm: FvadModule,
    /** The Fvad* instance; 0 once disposed. */
    private handle: number,
    /** Byte address of the int16 frame buffer in wasm memory, malloc'ed once. */
    private readonly frame: number,
    readonly mode: WebRtcMode,
    readonly sampleRate: number,
  ) {
    this.frameSamples = Math.round(sampleRate * FRAME_SECONDS);
  }

  static async create(mode: WebRtcMode, sampleRate = 16000): Promise<WebRtcVad> {
    const wasm = await fvadModule();
    const handle = wasm._fvad_new();
    if (handle === 0) throw new Error('fvad_new failed: out of wasm memory');
    const frame = wasm._malloc(Math.round(sampleRate * FRAME_SECONDS) * 2);
    if (frame === 0) {
      wasm._fvad_free(handle);
      throw new Error('malloc failed: out of wasm memory');
    }
    const vad = new WebRtcVad(wasm, handle, frame, mode, sampleRate);
    try {
      vad.configure();
    } catch (error) {
      vad.dispose();
      throw error;
    }
    return vad;
  }

  /** Whether libfvad hears speech in one frame of exactly frameSamples float samples in [-1, 1]. */
  isSpeech(samples: Float32Array): boolean {
    const handle = this.liveHandle();
    const n = this.frameSamples;
    if (samples.length !== n) throw new Error(`WebRtcVad expects ${n} samples per frame, got ${samples.length}`);
    const heap = this.wasm.HEAP16; // read afresh: growing the wasm memory replaces the view
    const base = this.frame >> 1;
    for (let i = 0; i < n; i++) {
      const v = samples[i] * 32768;
      // Int16Array stores wrap around instead of saturating: clip first.
      heap[base + i] = v >= 32767 ? 32767 : v <= -32768 ? -32768 : v;
    }
    const result = this.wasm._fvad_process(handle, this.frame, n);
    if (result < 0) throw new Error('fvad_process rejected the frame');
    return result === 1;
  }

  /** Forgets the adapted noise estimates, as for a new stream. */
  reset(): void {
    this.wasm._fvad_reset(this.liveHandle());
    this.configure(); // fvad_reset also restores mode 0 and 8 kHz
  }

  /** Frees the libfvad instance and its frame buffer; idempotent. */
  dispose(): void {
    if (this.handle === 0) return;
    this.wasm._fvad_free(this.handle);
    this.wasm._free(this.frame);
    this.handle = 0;
  }

  private configure(): void {
    const handle = this.liveHandle();
    if (this.wasm._fvad_set_mode(handle, this.mode) !== 0) throw new Error(`libfvad rejects mode ${this.mode}`);
    if (this.wasm._fvad_set_sample_rate(handle, this.sampleRate) !== 0) {
      throw new Error(`libfvad rejects sample rate ${this.sampleRate} (it takes 8, 16, 32 or 48 kHz)`);
    }
  }

  /** The instance handle; throws after dispose() rather than let libfvad touch freed memory. */
  private liveHandle(): number {
    if (this.handle === 0) throw new Error('WebRtcVad used after dispose()');
    return this.handle;
  }
}
