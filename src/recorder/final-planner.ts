import type { Transcript } from '../asr/engine.ts';
import type { SessionTranscriber } from '../asr/scheduler-session.ts';
import { reviewFinal, type GuardVerdict, type SpeechEvidence } from './hallucination-guard.ts';
import type { Utterance, UtteranceSpan } from './segmenter.ts';

export interface FinalTranscript extends UtteranceSpan {
  text: string;
  /** The model that transcribed it. */
  model: string;
  /** Engine time of the final job. */
  processingMs: number;
  /** Wall time from the end-of-speech decision (recordingStop) to this final. */
  latencyMs: number;
  /** The final was computed speculatively when silence began and was still valid at the decision. */
  speculative: boolean;
  /** What the hallucination guard found: no repetition, a repetition the audio holds (kept), or a decoder loop (cut). */
  guard: GuardVerdict;
  /** Set where the final model is cross-checked by another (src/asr/cross-check-engine.ts). */
  crossCheck?: Transcript['crossCheck'];
  /** The decoded token ids, where `text` is what they decode to (the guard changed nothing). */
  tokens?: number[];
  /** How likely the final model found what it decoded (before any cut by the guard). */
  score?: Transcript['score'];
  /** Share of the utterance's VAD windows (onset to the final's end) that the VAD judged not speech. */
  noSpeechProb: number;
}

export type DiscardReason = 'too_short' | 'no_text';

export interface RecorderError {
  code: 'PROCESSING_TIMEOUT' | 'TRANSCRIPTION_FAILED' | 'VAD_FAILED';
  message: string;
  utterance?: number;
}

/** Where finals go, in utterance order. */
export interface FinalListener {
  finished(final: FinalTranscript): void;
  /** An utterance that ended but carries no speech: no final follows. */
  discarded(span: UtteranceSpan & { reason: DiscardReason }): void;
  failed(error: RecorderError): void;
  /** Every final asked for so far has been delivered (or failed, or dropped). */
  settled(): void;
}

type GuardedTranscript = Transcript & { guard: GuardVerdict };

interface Speculation {
  utterance: Utterance;
  controller: AbortController;
  endSample: number;
  result: Promise<GuardedTranscript>;
}

/**
 * The finals of a recorder's utterances: computed speculatively when silence begins (the rest of
 * postSpeechSilenceDuration hides their latency), checked by the hallucination guard (the loop guard), and delivered
 * in utterance order even when a later one finishes first.
 */
export class FinalPlanner {
  private speculation?: Speculation;
  private deliveries: Promise<void> = Promise.resolve();
  private inFlight = 0;
  /** Bumped by abort(): deliveries queued before it are dropped. */
  private generation = 0;

  constructor(
    private readonly transcriber: SessionTranscriber,
    private readonly listener: FinalListener,
  ) {}

  /** Resolves once every final asked for so far has been delivered. */
  get delivered(): Promise<void> {
    return this.deliveries;
  }

  /** The utterance's audio is complete unless speech resumes: start its final now. */
  speculate(u: Utterance, now: number): void {
    if (!u.hasSpeech) return;
    const endSample = u.finalEnd(now);
    const controller = new AbortController();
    const result = this.guardedFinal(u, endSample, controller.signal);
    result.catch(() => {}); // an abandoned speculation is not an error; the real one is awaited where it is used
    this.speculation = { utterance: u, controller, endSample, result };
  }

  /** Speech resumed: the speculative final covered too little audio. */
  withdraw(): void {
    this.speculation?.controller.abort();
    this.speculation = undefined;
  }

  /**
   * The utterance ended at stream sample `now`, decided at `decidedAt` (performance.now()): its final (the
   * speculative one if it still holds) joins the queue.
   */
  finish(u: Utterance, span: UtteranceSpan, now: number, decidedAt: number): void {
    const held = this.speculation?.utterance === u ? this.speculation : undefined;
    this.speculation = undefined;
    if (!u.hasSpeech) {
      held?.controller.abort();
      this.queue(Promise.resolve(), () => this.listener.discarded({ ...span, reason: 'too_short' }), u.id);
      return;
    }
    const endSample = u.finalEnd(now);
    const speculative = held?.endSample === endSample ? held : undefined;
    if (!speculative) held?.controller.abort();
    const job = speculative?.result ?? this.guardedFinal(u, endSample);
    this.queue(
      job,
      (t) => {
        if (!t.text) return this.listener.discarded({ ...span, reason: 'no_text' });
        this.listener.finished({
          ...span,
          text: t.text,
          model: t.model,
          processingMs: t.processingMs,
          latencyMs: performance.now() - decidedAt,
          speculative: Boolean(speculative),
          guard: t.guard,
          crossCheck: t.crossCheck,
          tokens: t.guard === 'none' ? t.tokens : undefined,
          score: t.score,
          noSpeechProb: unvoicedShare(u.windowVoiced.slice(0, Math.max(0, Math.floor((endSample - u.windowsStart) / u.windowSamples)))),
        });
      },
      u.id,
    );
  }

  /** Drops every final in progress or queued: none is delivered. */
  abort(): void {
    this.generation++;
    this.withdraw();
  }

  /** The final of the audio up to `endSample`, through the hallucination guard (which may decode part of it again). */
  private guardedFinal(u: Utterance, endSample: number, signal?: AbortSignal): Promise<GuardedTranscript> {
    const size = u.windowSamples;
    const windows = Math.max(0, Math.floor((endSample - u.windowsStart) / size));
    const evidence: SpeechEvidence = {
      audio: u.audioUntil(endSample),
      windowSamples: size,
      windowsFrom: u.windowsStart - u.firstSample - u.leadInIndex,
      voiced: u.windowVoiced.slice(0, windows),
      levels: u.windowLevels.slice(0, windows),
    };
    const decode = (samples: Float32Array) => this.transcriber.final(samples, signal);
    return decode(evidence.audio).then(async (t) => {
      const { text, guard, redecodeMs } = await reviewFinal(t.text, evidence, decode);
      return { ...t, text, guard, processingMs: t.processingMs + redecodeMs };
    });
  }

  private queue<T>(job: Promise<T>, deliver: (result: T) => void, utterance: number): void {
    this.inFlight++;
    const generation = this.generation;
    this.deliveries = this.deliveries.then(async () => {
      try {
        const result = await job;
        if (generation === this.generation) deliver(result);
      } catch (e) {
        if ((e as Error).name !== 'AbortError' && generation === this.generation) {
          const code = (e as { code?: string }).code === 'PROCESSING_TIMEOUT' ? 'PROCESSING_TIMEOUT' : 'TRANSCRIPTION_FAILED';
          this.listener.failed({ code, message: `utterance ${utterance} could not be transcribed: ${(e as Error).message}`, utterance });
        }
      } finally {
        this.inFlight--;
        if (this.inFlight === 0) this.listener.settled();
      }
    });
  }
}

/** Share of windows not voiced (0 when there are none: the onset's own windows were voiced). */
function unvoicedShare(voiced: boolean[]): number {
  return voiced.length === 0 ? 0 : voiced.filter((v) => !v).length / voiced.length;
}
