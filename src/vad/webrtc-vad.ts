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
  private handle: number;

  private constructor(
    private readonly wasm: FvadModule,
    handle: number,
    /** Byte address of the int16 frame buffer in wasm memory, malloc'ed once. */
    private readonly frame: number,
    frameSamples: number,
  ) {
    this.handle = handle;
    this.frameSamples = frameSamples;
  }

  static async create(mode: WebRtcMode, sampleRate = 16000): Promise<WebRtcVad> {
    const wasm = await fvadModule();
    const frameSamples = Math.round(sampleRate * FRAME_SECONDS);
    const handle = wasm._fvad_new();
    if (handle === 0) throw new Error('fvad_new failed: out of wasm memory');
    if (wasm._fvad_set_mode(handle, mode) !== 0 || wasm._fvad_set_sample_rate(handle, sampleRate) !== 0) {
      wasm._fvad_free(handle);
      throw new Error(`libfvad rejects mode ${mode} or sample rate ${sampleRate} (8, 16, 32 or 48 kHz)`);
    }
    const frame = wasm._malloc(frameSamples * 2);
    if (frame === 0) {
      wasm._fvad_free(handle);
      throw new Error('malloc failed: out of wasm memory');
    }
    return new WebRtcVad(wasm, handle, frame, frameSamples);
  }

  /** Whether libfvad hears speech in one frame of exactly frameSamples float samples in [-1, 1]. */
  isSpeech(samples: Float32Array): boolean {
    if (this.handle === 0) throw new Error('WebRtcVad used after dispose()');
    const n = this.frameSamples;
    if (samples.length !== n) throw new Error(`WebRtcVad expects ${n} samples per frame, got ${samples.length}`);
    const heap = this.wasm.HEAP16;
    const base = this.frame >> 1;
    for (let i = 0; i < n; i++) {
      const v = samples[i] * 32768;
      // Int16Array stores wrap around instead of saturating: clip first.
      heap[base + i] = v >= 32767 ? 32767 : v <= -32768 ? -32768 : v;
    }
    const result = this.wasm._fvad_process(this.handle, this.frame, n);
    if (result < 0) throw new Error('fvad_process rejected the frame');
    return result === 1;
  }

  /** Forgets the adapted noise estimates, as for a new stream. */
  reset(): void {
    if (this.handle === 0) throw new Error('WebRtcVad used after dispose()');
    this.wasm._fvad_reset(this.handle);
    // fvad_reset restores the default mode; the sample rate survives
  }

  /** Frees the libfvad instance and its frame buffer; idempotent. */
  dispose(): void {
    if (this.handle === 0) return;
    this.wasm._fvad_free(this.handle);
    this.wasm._free(this.frame);
    this.handle = 0;
  }
}
