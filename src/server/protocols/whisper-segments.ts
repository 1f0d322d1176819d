import { deflateSync } from 'node:zlib';
import type { FinalTranscript } from '../../recorder/recorder.ts';

/** A segment of OpenAI's `verbose_json`, with every field Whisper's API gives (clients such as the AI SDK check them). */
export interface WhisperSegment {
  id: number;
  /** The 10 ms frame where the audio the segment was decoded from begins (Whisper: its 30 s window's offset). */
  seek: number;
  start: number;
  end: number;
  text: string;
  /** The decoded token ids (Moonshine's Llama vocabulary); empty where the loop guard cut the text. */
  tokens: number[];
  /** Greedy decoding, no temperature fallback. */
  temperature: number;
  /** The final model's mean log-probability per token of what it decoded. */
  avg_logprob: number;
  /** Text bytes over their zlib-compressed size, as Whisper computes it (a decoder loop compresses well). */
  compression_ratio: number;
  /** Share of the segment's VAD windows judged not speech. */
  no_speech_prob: number;
}

export function whisperSegment(s: FinalTranscript, id: number): WhisperSegment {
  const bytes = Buffer.from(s.text, 'utf8');
  return {
    id,
    seek: Math.max(0, Math.round(s.start * 100)),
    start: round3(s.start),
    end: round3(s.end),
    text: s.text,
    tokens: s.tokens ?? [],
    temperature: 0,
    avg_logprob: s.score && s.score.tokens > 0 ? round4(s.score.logProb / s.score.tokens) : 0,
    compression_ratio: bytes.length > 0 ? round4(bytes.length / deflateSync(bytes).length) : 0,
    no_speech_prob: round4(s.noSpeechProb),
  };
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function round4(x: number): number {
  return Math.round(x * 10000) / 10000;
}
