import type { FinalTranscript, Recorder } from '../src/recorder/recorder.ts';

/** The finals of one whole recording fed at once into a fresh recorder, which is shut down after. */
export async function finalsOf(recorder: Recorder, audio: Float32Array): Promise<FinalTranscript[]> {
  const finals: FinalTranscript[] = [];
  recorder.on('transcriptionFinished', (f) => finals.push(f));
  recorder.start();
  recorder.feedAudio(audio);
  await recorder.stop();
  recorder.shutdown();
  return finals;
}
