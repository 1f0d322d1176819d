import type { ErrorCode } from '../protocol/seed-messages.ts';
import type { Recorder } from '../recorder/recorder.ts';
import type { Logger } from './logger.ts';
import type { ServerMetrics } from './metrics.ts';
import type { Cycle } from './session-cycle.ts';
import type { SessionEvent } from './transcription-session.ts';

/** Where a cycle's recorder events go: the session's bounded output, its counted errors, and its drain. */
export interface RecorderEventSink<Tag> {
  emit(event: SessionEvent, tag: Tag | undefined): void;
  error(code: ErrorCode, message: string, tag: Tag | undefined, utterance?: number): void;
  /** An utterance ended in a final or a discard (a draining session may close now). */
  settled(): void;
  /** The session's log: news about the input that is not an error is logged as well as sent. */
  readonly log: Logger;
}

/** Recorder events → session events, tagged with the cycle, counted in the metrics. */
export function wireRecorder<Tag>(recorder: Recorder, cycle: Cycle<Tag>, metrics: ServerMetrics, out: RecorderEventSink<Tag>): void {
  const tag = cycle.tag;
  recorder.on('stateChange', (state) => out.emit({ type: 'state', state }, tag));
  recorder.on('vadStart', () => out.emit({ type: 'vad_start' }, tag));
  recorder.on('vadStop', () => out.emit({ type: 'vad_stop' }, tag));
  recorder.on('recordingStart', (span) => {
    cycle.utterance = span.utterance;
    cycle.awaitingFirstPartialSince = performance.now();
    out.emit({ type: 'speech_started', utterance: span.utterance, start: round3(span.start) }, tag);
  });
  recorder.on('recordingStop', (span) => {
    metrics.utterances.inc();
    if (recorder.config.agc) metrics.inputGain.observe(recorder.inputGainDb);
    out.emit({ type: 'speech_stopped', utterance: span.utterance, start: round3(span.start), end: round3(span.end) }, tag);
  });
  recorder.on('realtimeUpdate', (text) => {
    metrics.partials.inc();
    if (cycle.awaitingFirstPartialSince !== undefined) {
      metrics.firstPartialLatency.observe((performance.now() - cycle.awaitingFirstPartialSince) / 1000);
      cycle.awaitingFirstPartialSince = undefined;
    }
    out.emit({ type: 'partial', utterance: cycle.utterance, text }, tag);
  });
  recorder.on('realtimeStabilized', (text) => out.emit({ type: 'stabilized', utterance: cycle.utterance, text }, tag));
  recorder.on('transcriptionFinished', (f) => {
    metrics.finals.inc();
    if (f.guard !== 'none') metrics.guard.inc({ verdict: f.guard });
    metrics.finalLatency.observe(f.latencyMs / 1000);
    out.emit(
      {
        type: 'final',
        utterance: f.utterance,
        text: f.text,
        start: round3(f.start),
        end: round3(f.end),
        latencyMs: Math.round(f.latencyMs),
        processingMs: Math.round(f.processingMs),
        model: f.model,
      },
      tag,
    );
    out.settled();
  });
  recorder.on('utteranceDiscarded', (d) => {
    metrics.discarded.inc({ reason: d.reason });
    out.emit({ type: 'discarded', utterance: d.utterance, reason: d.reason, start: round3(d.start), end: round3(d.end) }, tag);
    out.settled();
  });
  recorder.on('error', (e) => out.error(e.code, e.message, tag, e.utterance));
  recorder.on('inputTooQuiet', ({ gainDb }) => {
    const message = `the input stays too quiet even at ${Math.round(gainDb)} dB of gain: move the microphone closer or raise its level`;
    out.log.warn({ code: 'INPUT_TOO_QUIET' }, message);
    out.emit({ type: 'notice', code: 'INPUT_TOO_QUIET', message }, tag);
  });
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
