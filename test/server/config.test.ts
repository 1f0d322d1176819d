import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, resolveServerConfig } from '../../src/server/config.ts';
import { recorderSettingsProblem } from '../../src/server/recorder-settings.ts';

test('the cross-check model: service default, "none", a model, or a clear error', () => {
  assert.equal(resolveServerConfig([], {}).checkModel, undefined);
  assert.equal(resolveServerConfig(['--check-model', 'none'], {}).checkModel, null);
  assert.equal(resolveServerConfig([], { EARSHOT_CHECK_MODEL: 'none' }).checkModel, null);
  assert.equal(resolveServerConfig(['--check-model', 'moonshine-tiny'], {}).checkModel, 'moonshine-tiny');
  assert.throws(() => resolveServerConfig(['--check-model', 'whisper'], {}), (e: Error) => e instanceof ConfigError && /--check-model must be one of/.test(e.message));
});

test('recorder settings: by flag, by environment variable (the flag wins), and a bad one named in one line', () => {
  assert.deepEqual(resolveServerConfig([], {}).recorder, {});
  const byFlag = resolveServerConfig(['--post-speech-silence-duration', '0.9', '--enable-realtime-transcription', 'false'], {}).recorder;
  assert.deepEqual(byFlag, { postSpeechSilenceDuration: 0.9, enableRealtimeTranscription: false });
  const byEnv = resolveServerConfig([], { EARSHOT_SILERO_SENSITIVITY: '0.6', EARSHOT_WEBRTC_SENSITIVITY: '2', EARSHOT_MIN_LENGTH_OF_RECORDING: '0.3' }).recorder;
  assert.deepEqual(byEnv, { sileroSensitivity: 0.6, webrtcSensitivity: 2, minLengthOfRecording: 0.3 });
  assert.equal(resolveServerConfig(['--silero-sensitivity', '0.2'], { EARSHOT_SILERO_SENSITIVITY: '0.6' }).recorder.sileroSensitivity, 0.2);
  const bad = (argv: string[], env: Record<string, string>, message: RegExp) =>
    assert.throws(() => resolveServerConfig(argv, env), (e: Error) => e instanceof ConfigError && message.test(e.message) && !e.message.includes('\n'));
  bad(['--silero-sensitivity', '2'], {}, /^--silero-sensitivity must be a number from 0 to 1 \(got "2"\)$/);
  bad([], { EARSHOT_POST_SPEECH_SILENCE_DURATION: 'long' }, /^EARSHOT_POST_SPEECH_SILENCE_DURATION must be a number \(got "long"\)$/);
  bad([], { EARSHOT_WEBRTC_SENSITIVITY: '1.5' }, /^EARSHOT_WEBRTC_SENSITIVITY must be 0, 1, 2 or 3 \(got "1.5"\)$/);
  bad(['--enable-realtime-transcription', 'maybe'], {}, /^--enable-realtime-transcription must be true or false/);
});

test('the longest utterance is checked against the loaded engines\' window, naming the flag and the variable', () => {
  const { recorder } = resolveServerConfig(['--max-utterance-seconds', '100'], {});
  assert.equal(recorder.maxUtteranceSeconds, 100);
  assert.equal(recorderSettingsProblem(recorder, 30), '--max-utterance-seconds (EARSHOT_MAX_UTTERANCE_SECONDS) must be a number from 2 to 28 (got 100)');
  assert.equal(recorderSettingsProblem({ maxUtteranceSeconds: 20 }, 30), undefined);
  assert.equal(recorderSettingsProblem({}, 30), undefined);
});
