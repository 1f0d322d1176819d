// Types for the parts of the Emscripten build of RNNoise that Earshot uses (the package ships none).
declare module '@echogarden/rnnoise-wasm' {
  export interface RnnoiseModule {
    /** A view of the wasm memory; replaced when the memory grows, so read it afresh on every use. */
    readonly HEAPF32: Float32Array;
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    /** A denoiser state with the built-in model (argument: a custom model, 0 for none). */
    _rnnoise_create(model: number): number;
    _rnnoise_destroy(state: number): void;
    /** Samples per frame (480: 10 ms at 48 kHz). */
    _rnnoise_get_frame_size(): number;
    /** Denoises one frame (floats in PCM16 range) from `input` into `output`; returns the frame's voice probability. */
    _rnnoise_process_frame(state: number, output: number, input: number): number;
  }
  const createRnnoiseModule: () => Promise<RnnoiseModule>;
  export default createRnnoiseModule;
}
