// Unit tests of the web client's DOM-free modules (and the shared protocol helpers): parsing, config, preview text,
// errors, transcript.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { STT_CONFIG, loadConfig, resolveWsUrl } from '../../web/src/config.ts';
import { newSessionId, parseServerMessage } from '../../src/protocol/seed-messages.ts';
import { describeError } from '../../web/src/ui/error-text.ts';
import { PreviewModel, splitPreview } from '../../web/src/ui/preview-text.ts';
import { formatTranscript, transcriptFileName } from '../../web/src/ui/transcript.ts';

test('parseServerMessage accepts the protocol and rejects malformed or unknown messages', () => {
  assert.deepEqual(parseServerMessage('{"type":"stt_final","text":"hi","session_id":"a","latency_ms":120}'), {
    type: 'stt_final',
    text: 'hi',
    session_id: 'a',
    latency_ms: 120,
  });
  assert.deepEqual(parseServerMessage('{"type":"stt_state","state":"recording"}'), { type: 'stt_state', state: 'recording' });
  assert.deepEqual(parseServerMessage('{"type":"stt_discarded","utterance":3,"reason":"no_text"}'), {
    type: 'stt_discarded',
    utterance: 3,
    reason: 'no_text',
  });
  assert.deepEqual(parseServerMessage('{"type":"pong"}'), { type: 'pong' });
  assert.deepEqual(parseServerMessage('{"type":"stt_notice","code":"INPUT_TOO_QUIET","message":"quiet","session_id":"a"}'), {
    type: 'stt_notice',
    code: 'INPUT_TOO_QUIET',
    message: 'quiet',
    session_id: 'a',
  });
  assert.deepEqual(parseServerMessage('{"type":"assistant_delta","text":"Hel"}'), { type: 'assistant_delta', text: 'Hel' });
  const err = parseServerMessage('{"type":"stt_error","error":"Model failed","code":"MODEL_LOAD_ERROR"}');
  assert.equal(err?.type, 'stt_error');
  assert.equal(err?.type === 'stt_error' && err.code, 'MODEL_LOAD_ERROR');
  // Errors from before any stt_start carry session_id null.
  assert.deepEqual(parseServerMessage('{"type":"stt_error","error":"bad","code":"BAD_MESSAGE","session_id":null}'), {
    type: 'stt_error',
    error: 'bad',
    code: 'BAD_MESSAGE',
    session_id: null,
  });

  for (const bad of [
    'not json',
    '[]',
    '{"text":"x"}',
    '{"type":"stt_update"}',
    '{"type":"stt_update","text":5}',
    '{"type":"stt_state","state":"dancing"}',
    '{"type":"stt_final","text":"x","session_id":7}',
    '{"type":"something_new","x":1}',
    '{"type":"stt_error","error":"no code"}',
    '{"type":"stt_notice","code":"INPUT_TOO_QUIET"}',
  ]) {
    assert.equal(parseServerMessage(bad), null, bad);
  }
});

test('newSessionId makes distinct v4 UUIDs', () => {
  const a = newSessionId();
  const b = newSessionId();
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(a, b);
});

test('loadConfig applies query-string overrides without touching the defaults', () => {
  const c = loadConfig('?showStabilizedOnly=1&autoSendOnFinal=false&echoCancellation=0&bufferSize=2048&ws=/other&junk=1&sampleRate=abc');
  assert.equal(c.ui.showStabilizedOnly, true);
  assert.equal(c.ui.autoSendOnFinal, false);
  assert.equal(c.ui.showRealtimePreview, true);
  assert.equal(c.audioConstraints.echoCancellation, false);
  assert.equal(c.audioConstraints.noiseSuppression, true);
  assert.equal(c.bufferSize, 2048);
  assert.equal(c.sampleRate, 16000);
  assert.equal(c.wsUrl, '/other');
  assert.equal(STT_CONFIG.ui.showStabilizedOnly, false, 'defaults untouched');
  assert.equal(STT_CONFIG.audioConstraints.echoCancellation, true, 'defaults untouched');
});

test('resolveWsUrl maps the page origin to ws/wss', () => {
  assert.equal(resolveWsUrl('/ws/stream', 'http://localhost:8000/'), 'ws://localhost:8000/ws/stream');
  assert.equal(resolveWsUrl('/ws/stream', 'https://example.org/app/?x=1'), 'wss://example.org/ws/stream');
  assert.equal(resolveWsUrl('ws://h:1/ws/stream', 'https://example.org/'), 'ws://h:1/ws/stream');
  assert.equal(loadConfig('?token=abc').token, 'abc');
});

test('splitPreview separates the stabilized prefix from the unstable tail', () => {
  assert.deepEqual(splitPreview('', 'hello there'), { stable: '', unstable: 'hello there' });
  assert.deepEqual(splitPreview('Hello, how', 'hello how are you'), { stable: 'Hello, how', unstable: 'are you' });
  assert.deepEqual(splitPreview('hello how', 'hello how'), { stable: 'hello how', unstable: '' });
  // The hypothesis disagrees with stable text: stable is kept, the tail starts after its length.
  assert.deepEqual(splitPreview('hello world', 'hello word again'), { stable: 'hello world', unstable: 'again' });
  assert.deepEqual(splitPreview('hello world', ''), { stable: 'hello world', unstable: '' });
});

test('PreviewModel honours showStabilizedOnly', () => {
  const all = new PreviewModel(false);
  all.update('one two three');
  assert.deepEqual(all.stabilize('one two'), { stable: 'one two', unstable: 'three' });
  assert.ok(all.hasText);
  all.reset();
  assert.equal(all.hasText, false);

  const stableOnly = new PreviewModel(true);
  assert.deepEqual(stableOnly.update('one two three'), { stable: '', unstable: '' });
  assert.equal(stableOnly.hasText, false);
  assert.deepEqual(stableOnly.stabilize('one'), { stable: 'one', unstable: '' });
});

test('describeError says known codes in plain words and keeps server text for others', () => {
  assert.match(describeError('MIC_ACCESS_DENIED'), /Microphone access was denied/);
  assert.match(describeError('MODEL_LOAD_ERROR', 'onnx failed'), /could not load its speech model/);
  assert.equal(describeError('BAD_AUDIO', 'Binary frame has an odd length'), 'The server reported a problem: Binary frame has an odd length');
  assert.equal(describeError(undefined), 'Something went wrong.');
});

test('formatTranscript writes one line per message', () => {
  const t = new Date(2024, 4, 1, 14, 3, 9);
  const text = formatTranscript([
    { role: 'user', text: 'hello there', time: t },
    { role: 'assistant', text: ' Hi! ', time: t },
    { role: 'user', text: '   ', time: t },
  ]);
  assert.equal(text, '[14:03:09] You: hello there\n[14:03:09] Assistant: Hi!\n');
  assert.equal(formatTranscript([]), '');
  assert.equal(transcriptFileName(t), 'earshot-conversation-2024-05-01-1403.txt');
});
