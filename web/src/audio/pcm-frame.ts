/** What the "pcm-capture" AudioWorklet posts (shared by the worklet and the main thread; no runtime code of note). */
export const PROCESSOR_NAME = 'pcm-capture';

export interface PcmFrameMessage {
  type: 'audio';
  /** Int16 little-endian mono samples at the AudioContext's rate (platforms running browsers are little-endian). */
  pcm: ArrayBuffer;
  /** Root mean square and peak of the frame's float samples, for the level meter. */
  rms: number;
  peak: number;
  /** True for the reply to a flush request (possibly empty): nothing more is pending. */
  flush: boolean;
}

export interface PcmCaptureOptions {
  frameSamples: number;
}
