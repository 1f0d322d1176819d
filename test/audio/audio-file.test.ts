import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { decodeAudioFile, loadAudioFile } from '../../src/audio/audio-file.ts';
import { AudioFormatError, readWav } from '../../src/audio/wav.ts';
import { buildWav, sine } from './wav-builder.ts';
import { requireTool, skipWithout } from '../support/require-tool.ts';

const dir = mkdtempSync(join(tmpdir(), 'earshot-audio-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fixture = fileURLToPath(new URL('../fixtures/speech/jfk.wav', import.meta.url));
const NO_FFMPEG = join(dir, 'no-such-ffmpeg');

function tempFile(name: string, contents: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, contents);
  return path;
}

async function assertRejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof AudioFormatError, `expected AudioFormatError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

// A stand-in ffmpeg: checks the arguments it must get, then emits 0.1 s of s16le at the
// requested rate in awkwardly sized writes (an odd byte split off), or fails like ffmpeg does on
// non-audio input.
const fakeFfmpeg = tempFile(
  'fake-ffmpeg',
  `#!${process.execPath}
const fs = require('node:fs');
const args = process.argv.slice(2);
const input = args[args.indexOf('-i') + 1];
const rate = Number(args[args.indexOf('-ar') + 1]);
if (!input.startsWith('file:') || !args.includes('-nostdin') || args[args.indexOf('-f') + 1] !== 's16le' || args[args.indexOf('-ac') + 1] !== '1') {
  process.stderr.write('bad arguments: ' + args.join(' ') + '\\n');
  process.exit(2);
}
if (fs.readFileSync(input.slice(5), 'utf8').startsWith('text')) {
  process.stderr.write(input + ': Invalid data found when processing input\\n');
  process.exit(1);
}
const samples = new Int16Array(rate / 10).fill(8192);
const bytes = Buffer.from(samples.buffer);
process.stdout.write(bytes.subarray(0, 3));
process.stdout.write(bytes.subarray(3, 1001));
process.stdout.write(bytes.subarray(1001));
`,
);
chmodSync(fakeFfmpeg, 0o755);

test('loads a 16 kHz speech fixture unchanged', async () => {
  const audio = await loadAudioFile(fixture);
  const direct = readWav(readFileSync(fixture)).samples;
  assert.equal(audio.sampleRate, 16000);
  assert.deepEqual(audio.samples, direct);
  assert.ok(Math.abs(audio.durationSeconds - direct.length / 16000) < 1e-9);
  assert.ok(audio.durationSeconds > 10 && audio.durationSeconds < 12, `jfk.wav is ~11 s, got ${audio.durationSeconds}`);
});

test('resamples a 44.1 kHz stereo WAV to the target rate', async () => {
  const frames = 44100;
  const path = tempFile('stereo.wav', buildWav({ sampleRate: 44100, channels: [sine(500, 44100, frames), sine(500, 44100, frames)], bitsPerSample: 24 }));
  const audio = await loadAudioFile(path);
  assert.equal(audio.samples.length, 16000);
  assert.equal(audio.durationSeconds, 1);
  const at8k = await loadAudioFile(path, 8000);
  assert.equal(at8k.sampleRate, 8000);
  assert.equal(at8k.samples.length, 8000);
});

test('detects WAV by header, not by extension', async () => {
  const path = tempFile('actually-a-wav.mp3', buildWav({ sampleRate: 16000, channels: [[0.5, -0.5]], bitsPerSample: 16 }));
  assert.deepEqual(Array.from((await loadAudioFile(path, 16000, { ffmpeg: NO_FFMPEG })).samples), [0.5, -0.5]);
  const fake = tempFile('not-a-wav.wav', 'text pretending to be a wav\n');
  await assertRejectsWith(loadAudioFile(fake, 16000, { ffmpeg: NO_FFMPEG }), 'FFMPEG_MISSING', /not-a-wav\.wav is not a WAV file/);
});

test('missing file fails with FILE_NOT_FOUND', async () => {
  await assertRejectsWith(loadAudioFile(join(dir, 'nope.wav')), 'FILE_NOT_FOUND', /nope\.wav: no such file/);
});

test('non-WAV without ffmpeg fails with FFMPEG_MISSING and says what to install', async () => {
  const path = tempFile('notes.txt', 'text, not audio\n');
  await assertRejectsWith(
    loadAudioFile(path, 16000, { ffmpeg: NO_FFMPEG }),
    'FFMPEG_MISSING',
    /notes\.txt is not a WAV file; install ffmpeg to read other formats \(apt-get install ffmpeg\)/,
  );
});

test('the default ffmpeg is looked up on PATH', async () => {
  const path = tempFile('song.ogg', 'OggS but not really');
  const savedPath = process.env.PATH;
  process.env.PATH = dir; // holds no ffmpeg
  try {
    await assertRejectsWith(loadAudioFile(path), 'FFMPEG_MISSING', /song\.ogg is not a WAV file; install ffmpeg/);
  } finally {
    process.env.PATH = savedPath;
  }
});

test('WAV codecs not read natively go through ffmpeg', async () => {
  const mulaw = buildWav({ sampleRate: 8000, channels: [[0, 0]], bitsPerSample: 8 });
  mulaw.writeUInt16LE(7, 20);
  const path = tempFile('mulaw.wav', mulaw);
  await assertRejectsWith(loadAudioFile(path, 16000, { ffmpeg: NO_FFMPEG }), 'FFMPEG_MISSING', /mulaw\.wav uses a WAV encoding not read natively \(.*mu-law.*install ffmpeg/);
  const audio = await loadAudioFile(path, 16000, { ffmpeg: fakeFfmpeg });
  assert.equal(audio.samples.length, 1600);
});

test('decodes other formats through ffmpeg output (stand-in ffmpeg)', async () => {
  const path = tempFile('clip.mp3', 'ID3 pretend mp3');
  const audio = await loadAudioFile(path, 16000, { ffmpeg: fakeFfmpeg });
  assert.equal(audio.sampleRate, 16000);
  assert.equal(audio.samples.length, 1600);
  assert.ok(audio.samples.every((s) => s === 0.25));
  assert.equal(audio.durationSeconds, 0.1);
});

test('ffmpeg failing to decode gives NOT_AUDIO naming the file (stand-in ffmpeg)', async () => {
  const path = tempFile('readme.txt', 'text that ffmpeg rejects\n');
  await assertRejectsWith(loadAudioFile(path, 16000, { ffmpeg: fakeFfmpeg }), 'NOT_AUDIO', /readme\.txt is not a readable audio file \(ffmpeg: .*Invalid data/);
});

test('real ffmpeg: decodes FLAC and rejects a text file', { skip: skipWithout('ffmpeg') }, async () => {
  const flac = join(dir, 'jfk.flac');
  const encoded = spawnSync(requireTool('ffmpeg'), ['-nostdin', '-loglevel', 'error', '-y', '-i', fixture, flac]);
  assert.equal(encoded.status, 0, String(encoded.stderr));
  const audio = await loadAudioFile(flac);
  const direct = readWav(readFileSync(fixture)).samples;
  assert.ok(Math.abs(audio.samples.length - direct.length) < 200);
  const text = tempFile('plain.txt', 'just some words\n');
  await assertRejectsWith(loadAudioFile(text), 'NOT_AUDIO', /plain\.txt is not a readable audio file/);
});

test('a WAV is decoded in chunks of at most a few seconds', async () => {
  let chunks = 0;
  let total = 0;
  for await (const chunk of decodeAudioFile(fixture)) {
    chunks++;
    total += chunk.length;
    assert.ok(chunk.length <= 5 * 16000, `chunk of ${chunk.length} samples`);
  }
  assert.ok(chunks > 2, `${chunks} chunks`);
  assert.equal(total, readWav(readFileSync(fixture)).samples.length);
});

test('WAV headers declaring 1 Hz or 8 MHz are refused before decoding', async () => {
  for (const rate of [1, 7999, 192001, 8_000_000]) {
    const wav = buildWav({ sampleRate: 16000, channels: [new Array(1000).fill(0)], bitsPerSample: 16 });
    wav.writeUInt32LE(rate, 24);
    const path = tempFile(`rate-${rate}.wav`, wav);
    await assertRejectsWith(loadAudioFile(path), 'UNSUPPORTED_SAMPLE_RATE', new RegExp(`${rate} Hz; 8000-192000 Hz is accepted`));
  }
});

test('a WAV longer than maxSeconds is refused from its header, before decoding', async () => {
  const wav = buildWav({ sampleRate: 8000, channels: [new Array(100).fill(0)], bitsPerSample: 16 });
  wav.writeUInt32LE(0xffffffff, 40); // "to end of file": the length is the file's
  const path = tempFile('long.wav', Buffer.concat([wav, Buffer.alloc(8000 * 2 * 3)])); // 3 s
  await assertRejectsWith(loadAudioFile(path, 16000, { maxSeconds: 2 }), 'AUDIO_TOO_LONG', /audio is 0:00:03 long, over the limit of 0:00:02/);
  assert.equal((await loadAudioFile(path, 16000, { maxSeconds: 4 })).samples.length, (100 + 3 * 8000) * 2, '3.0125 s at 16 kHz');
});

test('real ffmpeg: a long file is refused from its duration before it is decoded', { skip: skipWithout('ffmpeg') }, async () => {
  const flac = join(dir, 'silence.flac');
  const made = spawnSync(requireTool('ffmpeg'), ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'anullsrc=r=8000:cl=mono', '-t', '600', flac]);
  assert.equal(made.status, 0, String(made.stderr));
  let decoded = 0;
  await assertRejectsWith(
    (async () => {
      for await (const chunk of decodeAudioFile(flac, 16000, { maxSeconds: 60 })) decoded += chunk.length;
    })(),
    'AUDIO_TOO_LONG',
    /audio is 0:10:00 long, over the limit of 0:01:00/,
  );
  assert.equal(decoded, 0, 'nothing decoded before the refusal');
});

test('real ffmpeg: a file with an odd sample rate is refused', { skip: skipWithout('ffmpeg') }, async () => {
  const odd = join(dir, 'odd.flac');
  const made = spawnSync(requireTool('ffmpeg'), ['-nostdin', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'anullsrc=r=4000:cl=mono', '-t', '1', odd]);
  assert.equal(made.status, 0, String(made.stderr));
  await assertRejectsWith(loadAudioFile(odd), 'UNSUPPORTED_SAMPLE_RATE', /4000 Hz; 8000-192000 Hz is accepted/);
});
