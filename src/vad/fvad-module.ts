import createFvadModule, { type FvadModule } from '@echogarden/fvad-wasm';

export type { FvadModule };

let loading: Promise<FvadModule> | undefined;

/** The libfvad wasm module, instantiated once per process and shared by every WebRtcVad. */
export function fvadModule(): Promise<FvadModule> {
  loading ??= createFvadModule().catch((error: unknown) => {
    loading = undefined; // let a later call retry
    throw error;
  });
  return loading;
}
