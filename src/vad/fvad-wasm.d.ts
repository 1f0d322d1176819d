// Types for the parts of the Emscripten build of libfvad that Earshot uses (the package ships none).
declare module '@echogarden/fvad-wasm' {
  export interface FvadModule {
    /** Views of the wasm memory; replaced when the memory grows, so read them afresh on every use. */
    readonly HEAP16: Int16Array;
    readonly HEAPU8: Uint8Array;
    _malloc(bytes: number): number;
    _free(pointer: number): void;
    _fvad_new(): number;
    _fvad_free(handle: number): void;
    _fvad_reset(handle: number): void;
    /** Returns 0 on success, -1 for an invalid mode. */
    _fvad_set_mode(handle: number, mode: number): number;
    /** Returns 0 on success, -1 for an unsupported rate. */
    _fvad_set_sample_rate(handle: number, sampleRate: number): number;
    /** Returns 1 for speech, 0 for no speech, -1 for an invalid frame length. */
    _fvad_process(handle: number, frame: number, length: number): number;
  }
  const createFvadModule: () => Promise<FvadModule>;
  export default createFvadModule;
}
