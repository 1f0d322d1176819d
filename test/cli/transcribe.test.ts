import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { writeWav } from '../../src/audio/wav.ts';
import { normalizeWords, wer } from '../../eval/wer.ts';
import { occurrences } from '../../src/recorder/repetition.ts';
import { tenOfClubsFourTimesThenGoForward } from '../fixtures/repeated-speech.ts';
import { conversation } from '../../eval/conversation.ts';
import { SPEECH_CLIPS } from '../../eval/speech.ts';
import { requireTool, skipWithout } from '../support/require-tool.ts';

const run = promisify(execFile);
const BIN = path.resolve('bin/earshot.js');

describe('earshot transcribe (real CLI)', () => {
  it('prints one timed utterance per sentence of a 50 s recording, inventing nothing at the end', async () => {
    const clips = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-cli-'));
    const file = path.join(dir, 'long.wav');
    const { samples } = conversation(clips, 1.5);
    fs.writeFileSync(file, writeWav(samples, 16000));
    const { stdout } = await run(process.execPath, [BIN, 'transcribe', '--json', '--model', 'moonshine-base', file]);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; text: string; start: number; end: number });
    assert.equal(lines.length, clips.length, stdout);
    assert.ok(samples.length / 16000 > 30);
    const result = wer(clips.map((c, i) => ({ reference: c.text, hypothesis: lines[i]!.text })));
    assert.ok(result.wer <= 0.05, `WER ${result.wer}`);
    for (const [i, line] of lines.entries()) {
      assert.equal(line.file, file);
      assert.ok(line.end > line.start && (i === 0 || line.start > lines[i - 1]!.end));
    }
    assert.ok(lines.at(-1)!.end < samples.length / 16000);
  });

  it('keeps a phrase said four times and the words after it, and says so in the JSON', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-cli-'));
    const file = path.join(dir, 'repeated.wav');
    fs.writeFileSync(file, writeWav(tenOfClubsFourTimesThenGoForward(), 16000));
    const { stdout } = await run(process.execPath, [BIN, 'transcribe', '--json', file]);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { text: string; guard: string });
    assert.equal(lines.length, 1, stdout);
    const words = normalizeWords(lines[0]!.text);
    assert.equal(occurrences(words, ['ten', 'of']), 4, stdout);
    assert.equal(occurrences(words, ['go', 'forward', 'ten', 'meters']), 1, stdout);
    assert.equal(lines[0]!.guard, 'repetition_kept');
  });

  // The message depends on ffmpeg: without it only WAV is readable; with it, anything ffmpeg cannot read is refused.
  // CI installs ffmpeg and fails the first case without it; the second hides ffmpeg behind an empty PATH on every machine.
  it('answers a file that is not audio with one clear line and exit code 1 (ffmpeg installed)', { skip: skipWithout('ffmpeg') }, async () => {
    requireTool('ffmpeg');
    await assert.rejects(run(process.execPath, [BIN, 'transcribe', 'package.json']), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /^earshot transcribe: package\.json is not a readable audio file/);
      return true;
    });
  });

  it('says only WAV is readable without ffmpeg on PATH', async () => {
    const emptyPath = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-noffmpeg-'));
    await assert.rejects(run(process.execPath, [BIN, 'transcribe', 'package.json'], { env: { ...process.env, PATH: emptyPath } }), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /^earshot transcribe: package\.json is not a WAV file; install ffmpeg/);
      return true;
    });
  });

  it('names the command that fetches a missing model', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-nomodels-'));
    await assert.rejects(
      run(process.execPath, [BIN, 'transcribe', 'x.wav'], { env: { ...process.env, EARSHOT_MODELS_DIR: empty } }),
      (e: { code: number; stderr: string }) => e.code === 1 && /npx earshot models pull moonshine-base/.test(e.stderr),
    );
  });
});

describe('earshot transcribe --keyterm / --keyterms-file (real CLI)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-cli-keyterms-'));
  const file = path.join(dir, 'cards-002.wav');
  fs.copyFileSync(SPEECH_CLIPS.find((c) => c.file === 'cards-002.wav')!.path, file);

  it('writes the word the model misreads right with its keyterm, from the option or from a file, and not without', async () => {
    const plain = await run(process.execPath, [BIN, 'transcribe', file]);
    assert.doesNotMatch(plain.stdout, /clubs/i);
    const withOption = await run(process.execPath, [BIN, 'transcribe', '--keyterm', 'clubs', '--keyterm', 'Dashwood', file]);
    assert.match(withOption.stdout, /of clubs/i);
    const list = path.join(dir, 'keyterms.txt');
    fs.writeFileSync(list, '# card words\nclubs\nspades:1.5\n');
    const withFile = await run(process.execPath, [BIN, 'transcribe', '--keyterms-file', list, file]);
    assert.match(withFile.stdout, /of clubs/i);
  });

  it('refuses a keyterm past the limits with one line naming it and exit code 2', async () => {
    const long = 'x'.repeat(51);
    await assert.rejects(run(process.execPath, [BIN, 'transcribe', '--keyterm', long, file]), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 2);
      assert.match(e.stderr, new RegExp(`keyterm "${long}" is longer than 50 characters`));
      return true;
    });
  });
});
