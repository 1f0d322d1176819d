import { transcribe } from '../src/pipeline/transcribe.ts';
import { TranscriptionService } from '../src/pipeline/transcription-service.ts';
import { clipSamples, conversation } from '../eval/conversation.ts';
import { SPEECH_CLIPS } from '../eval/speech.ts';
import { percentile } from '../eval/stats.ts';
import { wer } from '../eval/wer.ts';

export interface RecorderBench {
  utterances: number;
  finals: number;
  finalLatencyP50: number;
  finalLatencyP95: number;
  firstPartialP50: number;
  firstPartialP95: number;
  partialsPerUtterance: number;
  speculativeHitRate: number;
  recorderWer: number;
  offlineWer: number;
  audioSeconds: number;
}

const CHUNK_SECONDS = 0.1;

/**
 * The conversation (every fixture but jfk.wav, whose inner pauses make it several utterances; 1 s gaps) streamed
 * through one recorder at real-time pace in 100 ms chunks, as a browser would send it.
 */
export async function benchRecorder(): Promise<RecorderBench> {
  const clips = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav');
  const { samples } = conversation(clips, 1);
  const service = await TranscriptionService.load();
  try {
    const offline = [];
    for (const c of clips) offline.push({ reference: c.text, hypothesis: (await service.finalEngine.transcribe(clipSamples(c))).text });

    const firstPartial: number[] = [];
    const partialCounts: number[] = [];
    let startedAt = 0;
    let gotPartial = false;
    const { finals } = await transcribe(service, atRealTimePace(samples), {
      sessionId: 'bench',
      partials: true,
      observe: (recorder) => {
        recorder.on('recordingStart', () => {
          startedAt = performance.now();
          gotPartial = false;
          partialCounts.push(0);
        });
        recorder.on('realtimeUpdate', () => {
          partialCounts[partialCounts.length - 1]!++;
          if (!gotPartial) firstPartial.push(performance.now() - startedAt);
          gotPartial = true;
        });
      },
    });
    const latencies = finals.map((f) => f.latencyMs);
    return {
      utterances: clips.length,
      finals: finals.length,
      finalLatencyP50: percentile(latencies, 50),
      finalLatencyP95: percentile(latencies, 95),
      firstPartialP50: percentile(firstPartial, 50),
      firstPartialP95: percentile(firstPartial, 95),
      partialsPerUtterance: partialCounts.reduce((a, b) => a + b, 0) / Math.max(1, partialCounts.length),
      speculativeHitRate: finals.filter((f) => f.speculative).length / Math.max(1, finals.length),
      recorderWer: wer(clips.map((c, i) => ({ reference: c.text, hypothesis: finals[i]?.text ?? '' }))).wer,
      offlineWer: wer(offline).wer,
      audioSeconds: samples.length / 16000,
    };
  } finally {
    await service.dispose();
  }
}

/** `samples` in CHUNK_SECONDS chunks, each when it is due at real-time pace, as a browser would send them. */
async function* atRealTimePace(samples: Float32Array): AsyncGenerator<Float32Array> {
  const chunk = Math.round(CHUNK_SECONDS * 16000);
  const t0 = performance.now();
  for (let i = 0, at = 0; at < samples.length; i++, at += chunk) {
    yield samples.subarray(at, at + chunk);
    const due = t0 + (i + 1) * CHUNK_SECONDS * 1000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - performance.now())));
  }
}
