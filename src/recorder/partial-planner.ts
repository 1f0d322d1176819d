import { ASR_SAMPLE_RATE } from '../asr/engine.ts';
import type { JobInput, Screen, SessionTranscriber } from '../asr/scheduler-session.ts';
import { splitWords } from '../asr/words.ts';
import { PrefixAgreement } from './agreed-prefix.ts';
import { guardPartial } from './hallucination-guard.ts';
import type { Segmenter, Utterance } from './segmenter.ts';
import { Stabilizer } from './stabilizer.ts';

/**
 * Partials continue the tokens they agree on with one made this much audio earlier (agreed-prefix.ts): agreeing with
 * the partial just before locks in early mishearings that more audio would fix; across 1 s it reads as well as
 * decoding afresh, for less (docs/decisions/0009-agreed-prefixes-and-drafts.md).
 */
const AGREEMENT_SPAN_SECONDS = 1;
/** Speech needed before the first partial: less gives the small model nothing to say. */
const FIRST_PARTIAL_SECONDS = 0.2;
/**
 * Partials read at most about this much audio. Re-reading a whole growing utterance for every partial costs the
 * square of its length; beyond this, the audio up to a recent pause is transcribed once and its text kept, and
 * partials read only what follows (the final still reads everything, with the big model).
 */
const PARTIAL_WINDOW_SECONDS = 8;
/** A kept part ends at the quietest window of the last this-many seconds of the window. */
const KEEP_SEARCH_SECONDS = 3;
/**
 * Silence after the audio of an utterance's partials while nothing is on screen: cut off in mid-word, the first half
 * second or so of speech often gets no text from Moonshine (the fixtures' 11 utterances, asked every 0.13 s: base
 * said nothing to 4 first asks without it, to 1 with it; tiny needed 15 empty asks in all without, 13 with).
 */
const BLANK_TAIL_SECONDS = 0.2;

/** Where partial text goes. */
export interface PartialListener {
  update(text: string): void;
  /** The part of the partials that has stopped changing grew. */
  stabilized(text: string): void;
}

/** The partials of the utterance in progress: what has been shown, and from where they read. */
interface UtteranceText {
  utterance: Utterance;
  pending: boolean;
  lastSample: number;
  lastText: string;
  /** Partials read from this stream sample on; the text of the audio before it is `keptText`. */
  from: number;
  keptText: string;
  /** What partials read from `from` agree on: the next one's text continues it. */
  agreement: PrefixAgreement;
  stabilizer: Stabilizer;
}

/** What a partial read when its job started. */
interface Reading {
  /** The audio up to here is kept: its text is stored and partials read on from there. */
  keep?: number;
  end: number;
  speechSeconds: number;
}

/** One partial asked for: the utterance it is of, and what its job read (once it started). */
interface PartialRequest {
  text: UtteranceText;
  reading?: Reading;
}

/**
 * When to ask for a partial and what it reads (at most a window of recent audio, continuing the tokens earlier
 * partials agreed on), and what the screen shows. The scheduler reads the audio through read() when the job starts.
 */
export class PartialPlanner {
  private text?: UtteranceText;
  /** The latest partial asked: the scheduler keeps one per session, so a job that starts is this one's. */
  private asked?: PartialRequest;
  private readonly screenState: Screen = { blank: true, since: performance.now() };
  /**
   * realtimeProcessingPause in whole VAD windows, rounded: audio arrives a window at a time, and 0.1 s against 32 ms
   * windows would otherwise wait 4 windows (128 ms), or a whole 100 ms network frame more.
   */
  private readonly pauseSamples: number;

  constructor(
    private readonly segmenter: Segmenter,
    private readonly transcriber: SessionTranscriber,
    realtimeProcessingPause: number,
    windowSamples: number,
    private readonly listener: PartialListener,
  ) {
    this.pauseSamples = Math.max(1, Math.round((realtimeProcessingPause * ASR_SAMPLE_RATE) / windowSamples)) * windowSamples;
  }

  /** What the user sees (the scheduler ranks partials by it). */
  get screen(): Screen {
    return this.screenState;
  }

  /** A new utterance: nothing on screen for it yet. */
  started(u: Utterance): void {
    this.text = {
      utterance: u,
      pending: false,
      lastSample: 0,
      lastText: '',
      from: u.leadInSample,
      keptText: '',
      agreement: new PrefixAgreement(AGREEMENT_SPAN_SECONDS * ASR_SAMPLE_RATE),
      stabilizer: new Stabilizer(),
    };
    this.screenState.blank = true;
    this.screenState.since = performance.now();
  }

  /** Speech went on at stream sample `now`: asks for a partial when one is due. */
  spoken(u: Utterance, now: number): void {
    const s = this.text;
    if (s?.utterance !== u || s.pending) return;
    const voiced = (u.voicedWindows * u.windowSamples) / ASR_SAMPLE_RATE;
    if (now - s.lastSample < this.pauseSamples || voiced < FIRST_PARTIAL_SECONDS) return;
    s.pending = true;
    s.lastSample = now;
    const request: PartialRequest = { text: s };
    this.asked = request;
    this.transcriber
      .partial()
      .then((t) => {
        s.pending = false;
        const reading = request.reading;
        if (!t || !reading || this.segmenter.current !== u) return; // superseded, or the utterance already ended
        this.shown(s, t.text, guardPartial(t.text, reading.speechSeconds), reading, t.tokens);
      })
      .catch(() => {
        s.pending = false;
      });
  }

  /**
   * The audio of the partial asked last, as it is now (undefined once its utterance has ended). Too long to re-read:
   * up to a pause near the window's end, whose text is then kept (the screen shows the last partial meanwhile);
   * otherwise from there to now. Either way no partial reads more than the window.
   */
  read(): JobInput | undefined {
    const request = this.asked;
    const s = request?.text;
    const u = s?.utterance;
    if (!request || !s || !u || this.segmenter.current !== u) return undefined;
    const end = this.segmenter.now;
    const windowEnd = s.from + PARTIAL_WINDOW_SECONDS * ASR_SAMPLE_RATE;
    const keep = end > windowEnd ? u.quietestSample(windowEnd - KEEP_SEARCH_SECONDS * ASR_SAMPLE_RATE, windowEnd, end) : undefined;
    const readEnd = keep ?? end;
    request.reading = { keep, end: readEnd, speechSeconds: (readEnd - Math.max(s.from, u.onsetSample)) / ASR_SAMPLE_RATE };
    const audio = u.audio.view(s.from - u.firstSample, readEnd - u.firstSample);
    if (!s.lastText && !s.keptText) return { samples: withSilenceAfter(audio, BLANK_TAIL_SECONDS) };
    const samples = audio.slice();
    // The part to keep ends at a pause that may come before words the agreed tokens already hold.
    return keep === undefined ? { samples, prefix: s.agreement.prefix, draft: s.agreement.draft } : { samples };
  }

  private shown(s: UtteranceText, raw: string, read: string, reading: Reading, tokens: number[] | undefined): void {
    if (reading.keep !== undefined) {
      s.keptText = joinText(s.keptText, read);
      s.from = reading.keep;
      s.agreement.reset();
      return;
    }
    // A repaired loop is no text to continue from.
    if (tokens && read === splitWords(raw).join(' ')) s.agreement.push(reading.end, tokens);
    else s.agreement.reset();
    const text = joinText(s.keptText, read);
    if (!text || text === s.lastText) return;
    s.lastText = text;
    this.screenState.blank = false;
    this.screenState.since = performance.now();
    this.listener.update(text);
    const stable = s.stabilizer.push(text);
    if (stable) this.listener.stabilized(stable);
  }
}

/** A copy of `audio` followed by `seconds` of silence. */
function withSilenceAfter(audio: Float32Array, seconds: number): Float32Array {
  const padded = new Float32Array(audio.length + Math.round(seconds * ASR_SAMPLE_RATE));
  padded.set(audio);
  return padded;
}

/** Two pieces of transcript as one text. */
function joinText(a: string, b: string): string {
  return a && b ? `${a} ${b}` : a || b;
}
