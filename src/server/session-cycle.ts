import type { Keyterm } from '../asr/keyterms.ts';
import type { Recorder } from '../recorder/recorder.ts';
import type { RecorderConfig } from '../recorder/recorder-config.ts';

export interface CycleOptions<Tag> {
  /** Rate of the PCM16 that appendAudio() will get. */
  sampleRate: number;
  /** The adapter's own handle on the cycle (the seed's session_id, say), passed back with its events. */
  tag: Tag;
  /** Per-cycle recorder settings over the server's (a protocol's silence duration, say). */
  recorder?: Partial<RecorderConfig>;
  /** The client's keyterms (parsed; the operator's list is added): a list that cannot be compiled refuses the start. */
  keyterms?: Keyterm[];
  /** Warn (SAMPLE_RATE_MISMATCH) when the audio arrives at another common device rate than `sampleRate`. */
  checkRate?: boolean;
}

/** One start … stop cycle: its own Recorder and sample rate. */
export interface Cycle<Tag> {
  number: number;
  tag: Tag;
  sampleRate: number;
  recorderConfig?: Partial<RecorderConfig>;
  keyterms?: Keyterm[];
  recorder?: Recorder;
  /** Audio that arrived before the recorder was ready (clients stream right after their start message). */
  backlog: Uint8Array[];
  backlogBytes: number;
  /** The utterance partials currently belong to. */
  utterance: number;
  /** Seconds of audio fed to the recorder (compared with recorder.time, the seconds it has been through the VAD). */
  fedSeconds: number;
  /** performance.now() at the recording start of an utterance still waiting for its first partial. */
  awaitingFirstPartialSince?: number;
  /** performance.now() of the last audio (or of the start). */
  lastAudioAt: number;
  /** Arrival-rate check of the declared sample rate (see checkRate); undefined when done or not asked for. */
  rateCheck?: { firstAt: number; bytes: number };
}

/** Audio kept while a cycle's recorder is being set up (models still loading, say); older frames are dropped. */
const MAX_BACKLOG_SECONDS = 30;
/**
 * A mis-declared sample rate is told apart by the audio's arrival rate: after this long a real-time client has sent
 * enough to measure it. Rates a client is likely to send by mistake are the common device rates.
 */
const RATE_CHECK_MS = 5000;
const COMMON_RATES = [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 96000];

export function newCycle<Tag>(number: number, options: CycleOptions<Tag>): Cycle<Tag> {
  return {
    number,
    tag: options.tag,
    sampleRate: options.sampleRate,
    recorderConfig: options.recorder,
    keyterms: options.keyterms,
    backlog: [],
    backlogBytes: 0,
    utterance: 0,
    fedSeconds: 0,
    lastAudioAt: performance.now(),
    rateCheck: options.checkRate ? { firstAt: -1, bytes: 0 } : undefined,
  };
}

/** Keeps audio that came before the cycle's recorder was ready, dropping the oldest beyond MAX_BACKLOG_SECONDS. */
export function keepBacklog(cycle: Cycle<unknown>, bytes: Uint8Array): void {
  cycle.backlog.push(Uint8Array.from(bytes));
  cycle.backlogBytes += bytes.length;
  const max = MAX_BACKLOG_SECONDS * cycle.sampleRate * 2;
  while (cycle.backlogBytes > max && cycle.backlog.length > 1) {
    const dropped = cycle.backlog.shift()!;
    // Keep byte parity, so that PCM16 sample boundaries stay where they were.
    if (dropped.length % 2 === 1) cycle.backlog[0] = cycle.backlog[0]!.subarray(1);
    cycle.backlogBytes -= dropped.length + (dropped.length % 2);
  }
}

/**
 * A real-time client whose audio arrives at another common device rate than it declared has most likely
 * mis-declared it (the model then hears sped-up or slowed-down speech and says nothing): the warning, once per cycle.
 */
export function rateMismatch(cycle: Cycle<unknown>, bytes: number): string | undefined {
  const check = cycle.rateCheck!;
  const now = performance.now();
  if (check.firstAt < 0) {
    check.firstAt = now; // the first frame's samples were sent before this moment; count from the next
    return undefined;
  }
  check.bytes += bytes;
  const elapsed = now - check.firstAt;
  if (elapsed < RATE_CHECK_MS) return undefined;
  cycle.rateCheck = undefined;
  const observed = check.bytes / 2 / (elapsed / 1000);
  const near = COMMON_RATES.find((r) => Math.abs(observed - r) <= r * 0.03);
  if (near === undefined || Math.abs(near - cycle.sampleRate) <= cycle.sampleRate * 0.1) return undefined;
  return `audio arrives at about ${near} samples/s but stt_start declared sample_rate ${cycle.sampleRate}: if the audio is really at ${near} Hz, declare that (a warning; the session goes on)`;
}
