import { float32ToPcm16 } from '../src/audio/pcm.ts';
import { EarshotClient } from '../src/client/earshot-client.ts';
import { conversation } from './conversation.ts';
import { SPEECH_CLIPS, type SpeechClip } from './speech.ts';
import { percentile } from './stats.ts';
import { wer } from './wer.ts';

export interface LoadOptions {
  wsUrl: string;
  sessions: number;
  /** Seconds of conversation each client streams (at least one sentence). */
  durationSeconds?: number;
  /** Seconds between the starts of consecutive clients. */
  staggerSeconds?: number;
  token?: string;
  /** Samples server resources while the clients run. */
  sample?: () => Promise<ServerSample>;
}

export interface ServerSample {
  rssMb: number;
  cpuSeconds: number;
  queueDepth: number;
  /** Partial jobs done so far, and their inference thread's seconds on a CPU and waiting for one (Linux). */
  partialJobs?: number;
  partialRunSeconds?: number;
  partialWaitSeconds?: number;
}

export interface LoadResult {
  sessions: number;
  expected: number;
  received: number;
  /** Counted per session, so that a final doubled in one session cannot hide one lost in another. */
  lost: number;
  doubled: number;
  wer: number;
  finalLatency: { p50: number; p95: number; max: number };
  firstPartial: { p50: number; p95: number };
  partialsPerUtterance: number;
  peakRssMb: number;
  cpuPercent: number;
  /**
   * Per partial job during the run: the inference thread's CPU time (its cost, whatever the machine's load) and its
   * time waiting for a CPU (how busy the machine was), in ms; NaN where the server does not report them.
   */
  partialCpuMs: number;
  partialWaitMs: number;
  peakQueueDepth: number;
  crossTalk: number;
}

// jfk.wav has long inner pauses (several utterances); every other clip is one sentence.
const CLIPS = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav');
const GAP_SECONDS = 1;
const FRAME_MS = 100;
const FRAME_SAMPLES = (16000 * FRAME_MS) / 1000;

interface Script {
  clips: SpeechClip[];
  /** The conversation as PCM16 frames, ready to send. */
  frames: Uint8Array[];
}

/**
 * Client i speaks the clips in its own rotated order, so a transcript in the wrong session shows up as cross-talk.
 * Scripts are computed once per order and shared: the load generator must not eat the CPU it measures.
 */
function scriptsFor(durationSeconds: number): (i: number) => Script {
  const seconds = new Map(CLIPS.map((c) => [c, conversation([c], 0).samples.length / 16000]));
  const cache = new Map<number, Script>();
  return (i) => {
    const rotation = i % CLIPS.length;
    let script = cache.get(rotation);
    if (!script) {
      const rotated = [...CLIPS.slice(rotation), ...CLIPS.slice(0, rotation)];
      const clips: SpeechClip[] = [];
      let total = GAP_SECONDS;
      for (const c of rotated) {
        if (clips.length > 0 && total >= durationSeconds) break;
        clips.push(c);
        total += seconds.get(c)! + GAP_SECONDS;
      }
      const pcm = float32ToPcm16(conversation(clips, GAP_SECONDS).samples);
      const frames: Uint8Array[] = [];
      for (let at = 0; at < pcm.length; at += FRAME_SAMPLES) {
        const frame = pcm.subarray(at, at + FRAME_SAMPLES);
        frames.push(new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength));
      }
      cache.set(rotation, (script = { clips, frames }));
    }
    return script;
  };
}

/** Sends every client's frames at real-time pace from one timer, instead of a timer per client. */
class Pacer {
  private readonly streams = new Set<{ client: EarshotClient; frames: Uint8Array[]; next: number; t0: number; done(): void }>();
  private timer?: NodeJS.Timeout;

  stream(client: EarshotClient, frames: Uint8Array[]): Promise<void> {
    return new Promise((done) => {
      this.streams.add({ client, frames, next: 0, t0: performance.now(), done });
      this.timer ??= setInterval(() => this.tick(), 10);
    });
  }

  private tick(): void {
    const now = performance.now();
    for (const s of this.streams) {
      while (s.next < s.frames.length && s.t0 + s.next * FRAME_MS <= now) s.client.sendAudio(s.frames[s.next++]!);
      if (s.next === s.frames.length) {
        this.streams.delete(s);
        s.done();
      }
    }
    if (this.streams.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** N real clients streaming real speech at real-time pace, with staggered starts; what each got back. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const { sessions, durationSeconds = 60, staggerSeconds = 0.7 } = options;
  const latencies: number[] = [];
  const firstPartials: number[] = [];
  const partialCounts: number[] = [];
  let expected = 0;
  let received = 0;
  let lost = 0;
  let doubled = 0;
  let crossTalk = 0;
  const pairs: { reference: string; hypothesis: string }[] = [];
  let peakRssMb = 0;
  let peakQueueDepth = 0;
  const script = scriptsFor(durationSeconds);
  const pacer = new Pacer();
  const startUsage = await options.sample?.();
  const startedAt = performance.now();
  let sampling = true;
  const sampler = (async () => {
    while (sampling && options.sample) {
      const s = await options.sample().catch(() => undefined);
      if (s) {
        peakRssMb = Math.max(peakRssMb, s.rssMb);
        peakQueueDepth = Math.max(peakQueueDepth, s.queueDepth);
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  })();

  await Promise.all(
    Array.from({ length: sessions }, async (_, i) => {
      await new Promise((r) => setTimeout(r, i * staggerSeconds * 1000));
      const { clips, frames } = script(i);
      const client = await EarshotClient.connect(options.wsUrl, { token: options.token });
      const finals: string[] = [];
      let stoppedAt = 0;
      let recordingAt = 0;
      let partials = 0;
      let gotPartial = false;
      const sessionId = `load-${i}`;
      client.on('message', (m) => {
        if ('session_id' in m && m.session_id !== undefined && m.session_id !== sessionId) crossTalk++;
      });
      client.on('recordingStart', () => {
        recordingAt = performance.now();
        gotPartial = false;
        partials = 0;
      });
      client.on('partial', () => {
        partials++;
        if (!gotPartial) firstPartials.push(performance.now() - recordingAt);
        gotPartial = true;
      });
      client.on('recordingStop', () => {
        stoppedAt = performance.now();
        partialCounts.push(partials);
      });
      client.on('final', (m) => {
        finals.push(m.text);
        latencies.push(performance.now() - stoppedAt);
      });
      await client.start(sessionId);
      await pacer.stream(client, frames);
      await client.stop();
      await client.close();
      expected += clips.length;
      received += finals.length;
      lost += Math.max(0, clips.length - finals.length);
      doubled += Math.max(0, finals.length - clips.length);
      pairs.push({ reference: clips.map((c) => c.text).join(' '), hypothesis: finals.join(' ') });
    }),
  );
  sampling = false;
  await sampler;
  const endUsage = await options.sample?.();
  const wallSeconds = (performance.now() - startedAt) / 1000;
  return {
    sessions,
    expected,
    received,
    lost,
    doubled,
    wer: wer(pairs).wer,
    finalLatency: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), max: Math.max(...latencies) },
    firstPartial: { p50: percentile(firstPartials, 50), p95: percentile(firstPartials, 95) },
    partialsPerUtterance: partialCounts.reduce((a, b) => a + b, 0) / Math.max(1, partialCounts.length),
    peakRssMb,
    cpuPercent: startUsage && endUsage ? ((endUsage.cpuSeconds - startUsage.cpuSeconds) / wallSeconds) * 100 : NaN,
    partialCpuMs: perPartialJob(startUsage, endUsage, 'partialRunSeconds'),
    partialWaitMs: perPartialJob(startUsage, endUsage, 'partialWaitSeconds'),
    peakQueueDepth,
    crossTalk,
  };
}

function perPartialJob(start: ServerSample | undefined, end: ServerSample | undefined, seconds: 'partialRunSeconds' | 'partialWaitSeconds'): number {
  const jobs = (end?.partialJobs ?? NaN) - (start?.partialJobs ?? NaN);
  // No thread time at all after partial jobs ran: the server does not measure it (not Linux).
  return jobs > 0 && end?.[seconds] ? ((end[seconds] - (start?.[seconds] ?? NaN)) / jobs) * 1000 : NaN;
}
