import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';
import { AudioFormatError, readWav, writeWav } from '../../src/audio/wav.ts';
import { buildWav, sine } from './wav-builder.ts';

const FIXTURES = new URL('../fixtures/speech/', import.meta.url);
const fixtureNames = readdirSync(FIXTURES).filter((name) => name.endsWith('.wav'));

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('reads every speech fixture as 16 kHz mono 16-bit with audible content', () => {
  assert.ok(fixtureNames.length >= 5);
  for (const name of fixtureNames) {
    const wav = readWav(readFileSync(new URL(name, FIXTURES)));
    assert.equal(wav.sampleRate, 16000, name);
    assert.equal(wav.channels, 1, name);
    assert.equal(wav.bitsPerSample, 16, name);
    assert.equal(wav.format, 'pcm', name);
    assert.ok(wav.samples.length > 16000, `${name} is over a second long`);
    let peak = 0;
    for (const s of wav.samples) peak = Math.max(peak, Math.abs(s));
    assert.ok(peak > 0.05 && peak <= 1, `${name} peak ${peak}`);
  }
});

test('a fixture with a LIST chunk before data decodes the data chunk only', () => {
  const bytes = readFileSync(new URL('jfk.wav', FIXTURES));
  const dataAt = bytes.indexOf('data');
  assert.ok(bytes.indexOf('LIST') < dataAt, 'jfk.wav has LIST before data');
  const wav = readWav(bytes);
  assert.equal(wav.samples.length, bytes.readUInt32LE(dataAt + 4) / 2);
  assert.equal(wav.samples[0], bytes.readInt16LE(dataAt + 8) / 32768);
});

test('writeWav output reads back to the same 16-bit samples', () => {
  const samples = Float32Array.from(sine(440, 16000, 1000, 0.9));
  const wav = readWav(writeWav(samples, 16000));
  assert.equal(wav.sampleRate, 16000);
  assert.ok(maxDiff(wav.samples, samples) <= 1 / 32768);
  const bytes = readFileSync(new URL(fixtureNames[0], FIXTURES));
  const original = readWav(bytes);
  assert.deepEqual(readWav(writeWav(original.samples, 16000)).samples, original.samples);
});

const encodings = [
  { bits: 8, float: false, tolerance: 1 / 128 },
  { bits: 16, float: false, tolerance: 1 / 32768 },
  { bits: 24, float: false, tolerance: 1 / 8388608 },
  { bits: 32, float: false, tolerance: 1e-7 },
  { bits: 32, float: true, tolerance: 1e-7 },
  { bits: 64, float: true, tolerance: 1e-7 },
] as const;

for (const { bits, float, tolerance } of encodings) {
  for (const extensible of [false, true]) {
    const label = `${bits}-bit ${float ? 'float' : 'int'}${extensible ? ' (WAVE_FORMAT_EXTENSIBLE)' : ''}`;
    test(`reads ${label}`, () => {
      const tone = sine(1000, 22050, 500, 0.7);
      const wav = readWav(buildWav({ sampleRate: 22050, channels: [tone], bitsPerSample: bits, float, extensible }));
      assert.equal(wav.sampleRate, 22050);
      assert.equal(wav.bitsPerSample, bits);
      assert.equal(wav.format, float ? 'float' : 'pcm');
      assert.ok(maxDiff(wav.samples, tone) <= tolerance, label);
    });
  }
}

test('8-bit is unsigned: 128 is silence, 0 is -1', () => {
  const wav = readWav(buildWav({ sampleRate: 8000, channels: [[0, -1, 0.5]], bitsPerSample: 8 }));
  assert.deepEqual(Array.from(wav.samples), [0, -1, 0.5]);
});

test('24-bit sign extension', () => {
  const wav = readWav(buildWav({ sampleRate: 8000, channels: [[-1, -0.5, 0.5, -1 / 8388608]], bitsPerSample: 24 }));
  assert.deepEqual(Array.from(wav.samples), [-1, -0.5, 0.5, -1 / 8388608]);
});

test('mixes any channel count to mono by averaging', () => {
  const left = [0.5, 0.5, -1, 0.25];
  const right = [-0.5, 0.5, 0, 0.25];
  const stereo = readWav(buildWav({ sampleRate: 44100, channels: [left, right], bitsPerSample: 16, extensible: true }));
  assert.equal(stereo.channels, 2);
  assert.equal(stereo.sampleRate, 44100);
  assert.deepEqual(Array.from(stereo.samples), [0, 0.5, -0.5, 0.25]);
  const six = Array.from({ length: 6 }, (_, c) => [c / 8, -c / 8]);
  const surround = readWav(buildWav({ sampleRate: 48000, channels: six, bitsPerSample: 24 }));
  assert.equal(surround.channels, 6);
  assert.ok(maxDiff(surround.samples, [15 / 48, -15 / 48]) < 1e-7);
});

test('skips unknown chunks, including odd-sized ones with a pad byte', () => {
  const tone = sine(300, 16000, 100);
  const wav = readWav(
    buildWav({
      sampleRate: 16000,
      channels: [tone],
      bitsPerSample: 16,
      extraChunks: [
        { id: 'LIST', body: Buffer.from('INFOISFT\x05\x00\x00\x00Lavf\x00') },
        { id: 'junk', body: new Uint8Array(3) },
        { id: 'fact', body: new Uint8Array(4) },
      ],
      trailer: Buffer.from('id3 \x04\x00\x00\x00TAG!'),
    }),
  );
  assert.ok(maxDiff(wav.samples, tone) <= 1 / 32768);
});

for (const sizeField of [0, 0xffffffff]) {
  test(`data size field 0x${sizeField.toString(16)} means "to end of file"`, () => {
    const tone = sine(300, 16000, 101);
    const wav = readWav(buildWav({ sampleRate: 16000, channels: [tone, tone], bitsPerSample: 24, dataSizeField: sizeField }));
    assert.equal(wav.samples.length, 101);
    assert.ok(maxDiff(wav.samples, tone) <= 1 / 8388608);
  });
}

test('a data chunk cut short yields the whole frames present', () => {
  const full = buildWav({ sampleRate: 16000, channels: [sine(300, 16000, 100), sine(300, 16000, 100)], bitsPerSample: 16 });
  const wav = readWav(full.subarray(0, full.length - 3));
  assert.equal(wav.samples.length, 99);
});

test('reads from a Buffer view at an odd offset', () => {
  const bytes = buildWav({ sampleRate: 16000, channels: [[0.25, -0.25]], bitsPerSample: 32, float: true });
  const backing = Buffer.alloc(bytes.length + 1);
  bytes.copy(backing, 1);
  assert.deepEqual(Array.from(readWav(backing.subarray(1)).samples), [0.25, -0.25]);
});

function assertAudioError(fn: () => unknown, code: string, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AudioFormatError, `expected AudioFormatError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.match(err.message, message);
    return true;
  });
}

test('rejects non-WAV input with NOT_WAV', () => {
  assertAudioError(() => readWav(Buffer.from('hello, this is a text file and not audio at all\n')), 'NOT_WAV', /^not a WAV file \(no RIFF\/WAVE header\)$/);
  assertAudioError(() => readWav(new Uint8Array(0)), 'NOT_WAV', /not a WAV file/);
  assertAudioError(() => readWav(Buffer.from('RIFF\x10\x00\x00\x00AVI LIST')), 'NOT_WAV', /not a WAV file/);
});

test('rejects truncated headers with TRUNCATED_WAV', () => {
  const good = buildWav({ sampleRate: 16000, channels: [[0.1, 0.2]], bitsPerSample: 16 });
  assertAudioError(() => readWav(good.subarray(0, 12)), 'TRUNCATED_WAV', /truncated/);
  assertAudioError(() => readWav(good.subarray(0, 30)), 'TRUNCATED_WAV', /ends inside its fmt chunk/);
  assertAudioError(() => readWav(good.subarray(0, 36)), 'TRUNCATED_WAV', /no data chunk/);
});

test('rejects encodings it cannot decode with UNSUPPORTED_WAV_FORMAT', () => {
  const mulaw = buildWav({ sampleRate: 8000, channels: [[0, 0]], bitsPerSample: 8 });
  mulaw.writeUInt16LE(7, 20);
  assertAudioError(() => readWav(mulaw), 'UNSUPPORTED_WAV_FORMAT', /mu-law/);
  const float16 = buildWav({ sampleRate: 8000, channels: [[0, 0]], bitsPerSample: 16 });
  float16.writeUInt16LE(3, 20);
  assertAudioError(() => readWav(float16), 'UNSUPPORTED_WAV_FORMAT', /16-bit float/);
  const noChannels = buildWav({ sampleRate: 8000, channels: [[0, 0]], bitsPerSample: 16 });
  noChannels.writeUInt16LE(0, 22);
  assertAudioError(() => readWav(noChannels), 'UNSUPPORTED_WAV_FORMAT', /0 channels/);
});
