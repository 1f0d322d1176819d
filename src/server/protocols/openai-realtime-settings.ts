/**
 * The settings of an OpenAI Realtime transcription session: what `session.update` (GA: `session.audio.input.*`) or
 * `transcription_session.update` (beta: flat `input_audio_format`, `turn_detection`, ...) may set, checked, and the
 * session object the server answers with. Earshot's own segmentation decides what the model hears (see
 * docs/decisions/frameworks-endpointing.md): `silence_duration_ms` lengthens an utterance, never shortens it below
 * the server's, so a short setting costs no accuracy; `threshold` is echoed and Earshot's VAD keeps its own.
 */
import type { Keyterm } from '../../asr/keyterms.ts';

export type Format = { kind: 'pcm16'; rate: number } | { kind: 'mulaw' | 'alaw' };

export interface TurnDetection {
  type: 'server_vad' | 'semantic_vad';
  silenceMs: number;
  prefixMs: number;
  threshold: number;
}

export interface Settings {
  format: Format;
  /** null: the client commits each item (turn_detection null, or a model OpenAI serves without turn detection). */
  turnDetection: TurnDetection | null;
  /** The client set turn_detection itself (null or an object); otherwise the model decides. */
  turnDetectionGiven: boolean;
  model: string;
  language: string;
  /** Accepted and echoed: Earshot's models are English only. */
  languages?: string[];
  /** `transcription.keywords` and the words of `transcription.prompt`, as the session decodes toward them (docs/keyterms.md). */
  keyterms: Keyterm[];
  prompt?: string;
  /** The keywords as parsed ("text" or "text:weight"). */
  keywords?: string[];
  delay?: string;
  /** Accepted and echoed: Earshot does no noise reduction of its own before the VAD. */
  noiseReduction: { type: string } | null;
  include?: string[];
}

/**
 * Transcription models that OpenAI serves without turn detection (the Realtime API reference: "For
 * gpt-realtime-whisper transcription sessions, turn detection must be set to null"; LiveKit's plugin lists
 * gpt-live-transcribe with it): a session on one of them runs on the client's commits whatever else it says.
 */
export const COMMIT_ONLY_MODELS = ['gpt-realtime-whisper', 'gpt-live-transcribe'];

export const DEFAULT_TURN_DETECTION: TurnDetection = { type: 'server_vad', silenceMs: 500, prefixMs: 300, threshold: 0.5 };

export const DEFAULT_SETTINGS: Settings = {
  format: { kind: 'pcm16', rate: 24000 },
  turnDetection: DEFAULT_TURN_DETECTION,
  turnDetectionGiven: false,
  model: 'earshot',
  language: 'en',
  noiseReduction: null,
  keyterms: [],
};

export function commitOnlyModel(model: string): boolean {
  return COMMIT_ONLY_MODELS.some((m) => model.startsWith(m));
}

/** The session as it runs: commit-driven for a commit-only model, whatever turn_detection it was given. */
export function withModel(settings: Settings, model: string | undefined): Settings {
  if (model === undefined) return settings;
  const next = { ...settings, model: model.slice(0, 100) };
  if (commitOnlyModel(next.model)) next.turnDetection = null;
  else if (!next.turnDetectionGiven && !settings.turnDetection) next.turnDetection = DEFAULT_TURN_DETECTION;
  return next;
}

export interface SettingsError {
  code: string;
  message: string;
  param: string;
}

/**
 * A session.update's `session` over the current settings; `beta` when it used the beta names; `keyterms` when it named
 * a prompt or keywords (the session compiles them: they take effect once they do).
 */
export function updateSettings(current: Settings, raw: unknown): { settings: Settings; beta: boolean; keyterms?: { keywords: unknown; prompt?: string } } | SettingsError {
  if (!isObject(raw)) return { code: 'invalid_value', message: 'session must be an object', param: 'session' };
  const s = raw;
  let next: Settings = { ...current };
  const input = isObject(s.audio) && isObject(s.audio.input) ? s.audio.input : undefined;
  const beta = !input && (s.input_audio_format !== undefined || s.input_audio_transcription !== undefined);
  const at = (name: string) => (input ? `session.audio.input.${name}` : `session.${name}`);
  const format = input ? input.format : s.input_audio_format;
  if (format !== undefined) {
    const parsed = parseFormat(format);
    if (!parsed) return { code: 'invalid_value', message: `unsupported input audio format ${JSON.stringify(format).slice(0, 80)}; use audio/pcm (24 kHz), audio/pcmu or audio/pcma`, param: at('format') };
    next.format = parsed;
  }
  const turn = input ? input.turn_detection : s.turn_detection;
  if (turn === null) next = { ...next, turnDetection: null, turnDetectionGiven: true };
  else if (turn !== undefined) {
    if (!isObject(turn) || (turn.type !== undefined && turn.type !== 'server_vad' && turn.type !== 'semantic_vad')) {
      return { code: 'invalid_value', message: 'turn_detection must be null or {"type":"server_vad", ...}', param: at('turn_detection') };
    }
    next.turnDetection = {
      type: turn.type === 'semantic_vad' ? 'semantic_vad' : 'server_vad',
      silenceMs: numberIn(turn.silence_duration_ms, 0, 10000) ?? DEFAULT_TURN_DETECTION.silenceMs,
      prefixMs: numberIn(turn.prefix_padding_ms, 0, 5000) ?? DEFAULT_TURN_DETECTION.prefixMs,
      threshold: numberIn(turn.threshold, 0, 1) ?? DEFAULT_TURN_DETECTION.threshold,
    };
    next.turnDetectionGiven = true;
  }
  const noise = input ? input.noise_reduction : s.input_audio_noise_reduction;
  if (noise === null) next.noiseReduction = null;
  else if (isObject(noise) && typeof noise.type === 'string') next.noiseReduction = { type: noise.type.slice(0, 40) };
  if (Array.isArray(s.include)) next.include = strings(s.include, 10);
  const transcription = input ? input.transcription : s.input_audio_transcription;
  let model: string | undefined;
  let keyterms: { keywords: unknown; prompt?: string } | undefined;
  if (isObject(transcription)) {
    const param = input ? 'session.audio.input.transcription' : 'session.input_audio_transcription';
    if (typeof transcription.model === 'string') model = transcription.model;
    const languages = [...(typeof transcription.language === 'string' ? [transcription.language] : []), ...(Array.isArray(transcription.languages) ? strings(transcription.languages, 20) : [])];
    const foreign = languages.find((l) => l !== 'en' && !l.toLowerCase().startsWith('en-'));
    if (foreign !== undefined) {
      return { code: 'invalid_value', message: `language ${JSON.stringify(foreign).slice(0, 40)} is not supported; Earshot's models are English only`, param: `${param}.language` };
    }
    if (typeof transcription.language === 'string') next.language = transcription.language;
    if (Array.isArray(transcription.languages)) next.languages = strings(transcription.languages, 20);
    if (transcription.prompt !== undefined || transcription.keywords !== undefined) {
      keyterms = {
        prompt: typeof transcription.prompt === 'string' ? transcription.prompt.slice(0, 4000) : current.prompt,
        keywords: transcription.keywords !== undefined ? transcription.keywords : current.keywords,
      };
    }
    if (typeof transcription.delay === 'string') next.delay = transcription.delay.slice(0, 20);
  }
  return { settings: withModel(next, model ?? (turn === undefined ? undefined : next.model)), beta, ...(keyterms ? { keyterms } : {}) };
}

/** The session object of session.created / session.updated (GA) or transcription_session.* (beta). */
export function describeSettings(s: Settings, beta: boolean): Record<string, unknown> {
  const t = s.turnDetection;
  const turn = t && { type: t.type, silence_duration_ms: t.silenceMs, prefix_padding_ms: t.prefixMs, threshold: t.threshold };
  const transcription = {
    model: s.model,
    language: s.language,
    ...(s.languages ? { languages: s.languages } : {}),
    ...(s.prompt !== undefined ? { prompt: s.prompt } : {}),
    ...(s.keywords ? { keywords: s.keywords } : {}),
    ...(s.delay ? { delay: s.delay } : {}),
  };
  if (beta) {
    return {
      object: 'realtime.transcription_session',
      input_audio_format: s.format.kind === 'pcm16' ? 'pcm16' : s.format.kind === 'mulaw' ? 'g711_ulaw' : 'g711_alaw',
      input_audio_transcription: transcription,
      input_audio_noise_reduction: s.noiseReduction,
      turn_detection: turn,
      include: s.include ?? [],
    };
  }
  const format = s.format.kind === 'pcm16' ? { type: 'audio/pcm', rate: s.format.rate } : { type: s.format.kind === 'mulaw' ? 'audio/pcmu' : 'audio/pcma' };
  return {
    type: 'transcription',
    object: 'realtime.transcription_session',
    audio: { input: { format, transcription, noise_reduction: s.noiseReduction, turn_detection: turn } },
    include: s.include ?? [],
  };
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function numberIn(v: unknown, min: number, max: number): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? Math.min(max, Math.max(min, v)) : undefined;
}

function strings(list: unknown[], max: number): string[] {
  return list.filter((x): x is string => typeof x === 'string').slice(0, max).map((x) => x.slice(0, 200));
}

/** GA `{type: 'audio/pcm', rate}` / `audio/pcmu` / `audio/pcma`, or the beta names. */
function parseFormat(f: unknown): Format | undefined {
  const type = isObject(f) ? f.type : f;
  if (type === 'audio/pcm' || type === 'pcm16') {
    const rate = isObject(f) && f.rate !== undefined ? f.rate : 24000;
    return typeof rate === 'number' && Number.isInteger(rate) && rate >= 8000 && rate <= 48000 ? { kind: 'pcm16', rate } : undefined;
  }
  if (type === 'audio/pcmu' || type === 'g711_ulaw') return { kind: 'mulaw' };
  if (type === 'audio/pcma' || type === 'g711_alaw') return { kind: 'alaw' };
  return undefined;
}
