import { DEFAULT_VAD_OPTIONS } from '../vad/voice-activity-detector.ts';

/**
 * The recorder's settings: the seed's AudioToTextRecorder parameters under their camelCase names (the seed's
 * snake_case name is in each comment), with the seed's defaults where the seed has one.
 */
export interface RecorderConfig {
  /** model: the model for finals. */
  model: string;
  /** realtime_model_type: the small model for realtime partials. */
  realtimeModel: string;
  /** enable_realtime_transcription */
  enableRealtimeTranscription: boolean;
  /** realtime_processing_pause: seconds of audio between two partials (they come less often when inference is slower). */
  realtimeProcessingPause: number;
  /** silero_sensitivity: 0-1, higher flags more audio as speech (speech when probability > 1 - sensitivity). */
  sileroSensitivity: number;
  /** webrtc_sensitivity: 0-3, libfvad mode; higher is more aggressive, i.e. less audio passes the gate. */
  webrtcSensitivity: 0 | 1 | 2 | 3;
  /** post_speech_silence_duration: seconds of silence that end an utterance. */
  postSpeechSilenceDuration: number;
  /** min_length_of_recording: an utterance is not ended earlier than this many seconds after it started. */
  minLengthOfRecording: number;
  /** pre_recording_buffer_duration: seconds of audio before the speech onset that the utterance keeps. */
  preRecordingBufferDuration: number;
  /** Not in the seed: a longer utterance is cut at its quietest recent point and continues as the next one. */
  maxUtteranceSeconds: number;
  /** Not in the seed: adaptive gain before the VAD, so quiet talkers are heard (src/audio/adaptive-gain.ts). */
  agc: boolean;
}

export const DEFAULT_RECORDER_CONFIG: Readonly<RecorderConfig> = Object.freeze({
  model: 'moonshine-base',
  realtimeModel: 'moonshine-tiny',
  enableRealtimeTranscription: true,
  realtimeProcessingPause: 0.1,
  ...DEFAULT_VAD_OPTIONS,
  postSpeechSilenceDuration: 0.6,
  minLengthOfRecording: 0.5,
  preRecordingBufferDuration: 1.0,
  maxUtteranceSeconds: 25,
  agc: true,
});

type NumericKey = { [K in keyof RecorderConfig]: RecorderConfig[K] extends number ? K : never }[keyof RecorderConfig];

/** Allowed range of each numeric setting (maxUtteranceSeconds also fits the engine's window). */
const RANGES: Record<NumericKey, [number, number]> = {
  realtimeProcessingPause: [0.02, 10],
  sileroSensitivity: [0, 1],
  webrtcSensitivity: [0, 3],
  postSpeechSilenceDuration: [0.1, 10],
  minLengthOfRecording: [0, 30],
  preRecordingBufferDuration: [0, 5],
  maxUtteranceSeconds: [2, Infinity],
};

/** How much shorter than the engine's window an utterance stays: its final reads a little pre-roll too. */
const WINDOW_MARGIN_SECONDS = 2;

/**
 * Merges overrides into the defaults and checks every value; throws a RangeError naming the setting.
 * `maxAudioSeconds`: the longest audio the engine takes in one call (AsrEngine.maxAudioSeconds).
 */
export function resolveRecorderConfig(overrides: Partial<RecorderConfig> = {}, maxAudioSeconds = Infinity): RecorderConfig {
  const config = { ...DEFAULT_RECORDER_CONFIG, ...stripUndefined(overrides) };
  const ranges = { ...RANGES, maxUtteranceSeconds: [RANGES.maxUtteranceSeconds[0], maxAudioSeconds - WINDOW_MARGIN_SECONDS] };
  for (const [key, [min, max]] of Object.entries(ranges) as [NumericKey, [number, number]][]) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      throw new RangeError(`${key} must be a number from ${min} to ${max} (got ${String(value)})`);
    }
  }
  if (!Number.isInteger(config.webrtcSensitivity)) throw new RangeError('webrtcSensitivity must be 0, 1, 2 or 3');
  if (typeof config.enableRealtimeTranscription !== 'boolean') throw new RangeError('enableRealtimeTranscription must be true or false');
  if (typeof config.agc !== 'boolean') throw new RangeError('agc must be true or false');
  return config;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
