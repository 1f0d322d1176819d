import { resolveRecorderConfig, type RecorderConfig } from '../recorder/recorder-config.ts';

/** One recorder setting of `earshot serve`: its flag, its environment variable and the seed's name for it. */
export interface RecorderSetting {
  key: keyof RecorderConfig;
  flag: string;
  env: string;
  /** The seed's AudioToTextRecorder parameter; undefined for Earshot's own. */
  seed?: string;
  kind: 'number' | 'boolean';
}

/** The recorder settings a server applies to every session (model and realtime_model_type are --model, --realtime-model). */
export const RECORDER_SETTINGS: readonly RecorderSetting[] = [
  { key: 'postSpeechSilenceDuration', flag: 'post-speech-silence-duration', env: 'EARSHOT_POST_SPEECH_SILENCE_DURATION', seed: 'post_speech_silence_duration', kind: 'number' },
  { key: 'minLengthOfRecording', flag: 'min-length-of-recording', env: 'EARSHOT_MIN_LENGTH_OF_RECORDING', seed: 'min_length_of_recording', kind: 'number' },
  { key: 'preRecordingBufferDuration', flag: 'pre-recording-buffer-duration', env: 'EARSHOT_PRE_RECORDING_BUFFER_DURATION', seed: 'pre_recording_buffer_duration', kind: 'number' },
  { key: 'sileroSensitivity', flag: 'silero-sensitivity', env: 'EARSHOT_SILERO_SENSITIVITY', seed: 'silero_sensitivity', kind: 'number' },
  { key: 'webrtcSensitivity', flag: 'webrtc-sensitivity', env: 'EARSHOT_WEBRTC_SENSITIVITY', seed: 'webrtc_sensitivity', kind: 'number' },
  { key: 'realtimeProcessingPause', flag: 'realtime-processing-pause', env: 'EARSHOT_REALTIME_PROCESSING_PAUSE', seed: 'realtime_processing_pause', kind: 'number' },
  { key: 'enableRealtimeTranscription', flag: 'enable-realtime-transcription', env: 'EARSHOT_ENABLE_REALTIME_TRANSCRIPTION', seed: 'enable_realtime_transcription', kind: 'boolean' },
  { key: 'maxUtteranceSeconds', flag: 'max-utterance-seconds', env: 'EARSHOT_MAX_UTTERANCE_SECONDS', kind: 'number' },
  { key: 'agc', flag: 'agc', env: 'EARSHOT_AGC', kind: 'boolean' },
];

/**
 * Reads the recorder settings given (`pick` finds a flag or its variable and says which it was) and checks each with
 * the recorder's own ranges; a bad one throws `fail` with one line naming the flag or variable.
 */
export function readRecorderSettings(
  pick: (flag: string, env: string) => { value: string; name: string } | undefined,
  fail: (message: string) => Error,
): Partial<RecorderConfig> {
  const settings: Partial<Record<keyof RecorderConfig, unknown>> = {};
  for (const s of RECORDER_SETTINGS) {
    const got = pick(s.flag, s.env);
    if (!got) continue;
    const text = got.value.trim();
    let value: number | boolean;
    if (s.kind === 'boolean') {
      if (!/^(true|false|1|0)$/i.test(text)) throw fail(`${got.name} must be true or false (got "${got.value}")`);
      value = /^(true|1)$/i.test(text);
    } else {
      value = Number(text);
      if (text === '' || !Number.isFinite(value)) throw fail(`${got.name} must be a number (got "${got.value}")`);
    }
    try {
      resolveRecorderConfig({ [s.key]: value });
    } catch (e) {
      // The recorder names its camelCase key; the user gave a flag or a variable.
      const rule = (e as Error).message.replace(/^\w+/, '').replace(/ \(got .*\)$/, '');
      throw fail(`${got.name}${rule} (got "${got.value}")`);
    }
    settings[s.key] = value;
  }
  return settings as Partial<RecorderConfig>;
}

/**
 * What no flag can be checked against before the models load: the longest utterance the loaded engines take
 * (`maxAudioSeconds`, the scheduler's). One line naming the setting by flag and variable, or undefined when it fits.
 */
export function recorderSettingsProblem(settings: Partial<RecorderConfig>, maxAudioSeconds: number): string | undefined {
  try {
    resolveRecorderConfig(settings, maxAudioSeconds);
    return undefined;
  } catch (e) {
    const message = (e as Error).message;
    const s = RECORDER_SETTINGS.find((r) => message.startsWith(`${r.key} `));
    return s ? `--${s.flag} (${s.env})${message.slice(s.key.length)}` : message;
  }
}
