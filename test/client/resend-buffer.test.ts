import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResendBuffer } from '../../src/client/resend-buffer.ts';

/** `seconds` of PCM16 at 1 kHz whose samples count up from `from` (so positions can be read back). */
function frame(from: number, seconds: number): Uint8Array {
  const samples = new Int16Array(Math.round(seconds * 1000)).map((_, i) => from + i);
  return new Uint8Array(samples.buffer);
}

function firstSample(frames: Uint8Array[]): number {
  return new Int16Array(frames[0]!.slice().buffer)[0]!;
}

test('a final drops the audio it answered; a replay sends the rest, and later finals map onto the whole stream', () => {
  const b = new ResendBuffer(1000);
  b.push(frame(0, 0.1));
  b.push(frame(100, 0.1));
  b.push(frame(200, 0.1));
  assert.deepEqual(b.acknowledge(0.02, 0.15), { start: 0.02, end: 0.15 });
  assert.equal(b.pendingSeconds, 0.15);
  const replay = b.replay();
  assert.equal(firstSample(replay), 150, 'the replay starts right after the answered audio');
  assert.equal(replay.reduce((n, f) => n + f.length, 0), 300);
  // The new connection counts from the replay's start (0.15 s into the stream).
  assert.deepEqual(b.acknowledge(0.05, 0.1), { start: 0.2, end: 0.25 });
  assert.equal(firstSample(b.replay()), 250);
});

test('a final for audio already answered is a duplicate', () => {
  const b = new ResendBuffer(1000);
  b.push(frame(0, 0.5));
  assert.ok(b.acknowledge(0, 0.3));
  b.replay(); // reconnect: the new stream starts at 0.3 s
  assert.equal(b.acknowledge(0, 0), undefined);
  assert.ok(b.acknowledge(0, 0.1));
});

test('audio kept is bounded; a replay then starts at the oldest kept frame', () => {
  const b = new ResendBuffer(1000, 1);
  for (let i = 0; i < 30; i++) b.push(frame(i * 100, 0.1));
  assert.ok(b.pendingSeconds <= 1);
  assert.equal(firstSample(b.replay()), 2000);
});
