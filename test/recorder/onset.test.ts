import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { normalizeWords } from '../../eval/wer.ts';
import { transcribe } from '../../src/pipeline/transcribe.ts';
import { OnsetHistory } from '../../src/recorder/onset.ts';
import { TranscriptionService } from '../../src/pipeline/transcription-service.ts';
import { concat } from '../../eval/conversation.ts';
import { silence, trimmedClip } from '../fixtures/repeated-speech.ts';

describe('onset walk-back over the pre-roll', () => {
  const history = (windows: Array<[level: number, probability: number]>) => {
    const h = new OnsetHistory(31);
    for (const [level, probability] of windows) h.push(level, probability);
    return h;
  };

  it('stays at the trigger after silence', () => {
    assert.equal(history([...Array(20).fill([-90, 0.01]), [-30, 0.9], [-28, 0.95]]).onsetWindows(2, 20), 0);
  });

  it('walks back over a soft start that Silero half believes or that stands above the floor', () => {
    const soft: Array<[number, number]> = [[-57, 0.05], [-55, 0.1], [-50, 0.3]];
    assert.equal(history([...Array(20).fill([-80, 0.01]), ...soft, [-30, 0.9], [-28, 0.95]]).onsetWindows(2, 20), 3);
  });

  it('does not walk over a recording\'s quiet background after digital silence', () => {
    const background: Array<[number, number]> = [[-62, 0.02], [-60, 0.03], [-61, 0.02]];
    assert.equal(history([...Array(10).fill([-120, 0]), ...background, [-36, 0.9], [-25, 0.95]]).onsetWindows(2, 20), 0);
  });

  it('stops at its limit and at the oldest window held', () => {
    assert.equal(history([...Array(40).fill([-40, 0.5]), [-30, 0.9], [-28, 0.95]]).onsetWindows(2, 5), 5);
    assert.equal(history([[-40, 0.5], [-30, 0.9], [-28, 0.95]]).onsetWindows(2, 20), 1);
  });
});

/** The clip with its first `seconds` `db` quieter: a first word said softly, as people often start. */
function softStart(file: string, seconds: number, db: number): Float32Array {
  const speech = trimmedClip(file);
  for (let i = 0; i < Math.round(seconds * 16000); i++) speech[i]! *= 10 ** (-db / 20);
  return speech;
}

describe('onsets through the recorder (real VAD, real models, real speech)', () => {
  let service: TranscriptionService;
  before(async () => {
    service = await TranscriptionService.load({ realtimeModel: null, parallelism: 1 });
  });
  after(() => service.dispose());

  const words = async (samples: Float32Array) => normalizeWords((await transcribe(service, samples)).finals.map((f) => f.text).join(' '));

  it('"five five" after a long silence', async () => {
    assert.deepEqual(await words(concat(silence(2), trimmedClip('cards-004.wav'), silence(1))), ['five', 'five']);
  });

  // With the model hearing only 0.2 s before the VAD's trigger, these came out as "at a merry, demure, amiable
  // woman…", "was not an ill disposed young man" and "I'd even have been made amiable himself".
  for (const [file, seconds, db, start] of [
    ['sense_and_sensibility_01_austen_64kb-0920.wav', 0.35, 20, ['had', 'he', 'married']],
    ['sense_and_sensibility_01_austen_64kb-0880.wav', 0.5, 25, ['he', 'was', 'not']],
    ['sense_and_sensibility_01_austen_64kb-0930.wav', 0.5, 25, ['he', 'might', 'even']],
  ] as const) {
    it(`a phrase said softly after a pause keeps its first words: "${start.join(' ')}…" (first ${seconds} s ${db} dB down)`, async () => {
      const heard = await words(concat(silence(2), softStart(file, seconds, db), silence(1)));
      assert.deepEqual(heard.slice(0, start.length), start, heard.join(' '));
    });
  }
});
