/** Cost of the two voice activity detectors per audio window on jfk.wav (11 s), after a warm-up pass. */
import { readFileSync } from 'node:fs';
import { readWav } from '../src/audio/wav.ts';
import { loadSileroModel } from '../src/vad/load-vad.ts';
import { SILERO_WINDOW_SAMPLES } from '../src/vad/silero-vad.ts';
import { WebRtcVad } from '../src/vad/webrtc-vad.ts';

export interface VadBench {
  /** Silero: ms per 32 ms window. */
  sileroMsPerWindow: number;
  /** WebRTC (mode 3): µs per 30 ms frame. */
  webrtcMicrosPerFrame: number;
}

export async function benchVad(): Promise<VadBench> {
  const jfk = readWav(readFileSync(new URL('../test/fixtures/speech/jfk.wav', import.meta.url))).samples;

  const silero = await loadSileroModel();
  const stream = silero.createStream();
  const sileroPass = async () => {
    let windows = 0;
    for (let at = 0; at + SILERO_WINDOW_SAMPLES <= jfk.length; at += SILERO_WINDOW_SAMPLES, windows++) {
      await stream.probability(jfk.subarray(at, at + SILERO_WINDOW_SAMPLES));
    }
    return windows;
  };
  await sileroPass();
  let start = performance.now();
  const windows = await sileroPass();
  const sileroMsPerWindow = (performance.now() - start) / windows;
  await silero.dispose();

  const webrtc = await WebRtcVad.create(3);
  const frame = webrtc.frameSamples;
  const frames = Math.floor(jfk.length / frame);
  start = performance.now();
  for (let rep = 0; rep < 10; rep++) {
    for (let i = 0; i < frames; i++) webrtc.isSpeech(jfk.subarray(i * frame, (i + 1) * frame));
  }
  const webrtcMicrosPerFrame = ((performance.now() - start) * 1000) / (frames * 10);
  webrtc.dispose();
  return { sileroMsPerWindow, webrtcMicrosPerFrame };
}
