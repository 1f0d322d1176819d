import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { writeWav } from '../../src/audio/wav.ts';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { clip, conversation, finals, serverForSuite, transcribeOver } from '../server/helpers.ts';

const run = promisify(execFile);
const BIN = path.resolve('bin/earshot.js');
const CLIPS = ['goforward.wav', 'sense_and_sensibility_01_austen_64kb-0880.wav', 'cards-003.wav'].map(clip);

interface Final {
  text: string;
  start: number;
  end: number;
}

/**
 * The one pipeline (src/pipeline/transcribe.ts) behind every door: a file transcribed by the CLI, the same file
 * uploaded to the REST route, and the same audio streamed live over the WebSocket give the same finals. All three run
 * moonshine-base without the cross-check (the test server has none; the CLI is told so).
 */
describe('one pipeline: CLI, REST upload and live stream (real models, real speech)', () => {
  const t = serverForSuite();
  const { samples } = conversation(CLIPS, 1.2);
  const wav = writeWav(samples, 16000);

  it('give the same finals: text, start and end', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-same-'));
    const file = path.join(dir, 'speech.wav');
    fs.writeFileSync(file, wav);
    const { stdout } = await run(process.execPath, [BIN, 'transcribe', '--json', '--no-cross-check', '--model', 'moonshine-base', file]);
    const cli = stdout.trim().split('\n').map((l) => JSON.parse(l) as Final);

    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(wav)], { type: 'audio/wav' }), 'speech.wav');
    form.append('response_format', 'verbose_json');
    const response = await fetch(`${t.http}/v1/audio/transcriptions`, { method: 'POST', body: form });
    assert.equal(response.status, 200, await response.clone().text());
    const rest = ((await response.json()) as { segments: Final[] }).segments;

    const client = await EarshotClient.connect(t.ws);
    const { log } = await transcribeOver(client, samples, { realtime: true });
    await client.close();
    const live = finals(log);

    assert.equal(cli.length, CLIPS.length, stdout);
    const shape = (f: Final) => ({ text: f.text, start: round3(f.start), end: round3(f.end) });
    assert.deepEqual(rest.map(shape), cli.map(shape), 'REST upload vs CLI');
    assert.deepEqual(live.map(shape), cli.map(shape), 'live stream vs CLI');
  });
});

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
