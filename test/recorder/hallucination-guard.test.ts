import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Transcript } from '../../src/asr/engine.ts';
import type { SessionTranscriber } from '../../src/asr/scheduler.ts';
import { Recorder, type FinalTranscript } from '../../src/recorder/recorder.ts';
import { TranscriptionService } from '../../src/pipeline/transcription-service.ts';
import { VoiceActivityDetector } from '../../src/vad/voice-activity-detector.ts';
import { normalizeWords, wer } from '../../eval/wer.ts';
import { transcribe } from '../../src/pipeline/transcribe.ts';
import { splitWords } from '../../src/asr/words.ts';
import { readWav } from '../../src/audio/wav.ts';
import { occurrences } from '../../src/recorder/repetition.ts';
import { concat } from '../../eval/conversation.ts';
import { repeated, senseAtTempo, silence, tenOfClubsFourTimesThenGoForward, tenOfCopies, trimmedClip } from '../fixtures/repeated-speech.ts';

const GO_FORWARD = ['go', 'forward', 'ten', 'meters'];

describe('hallucination guard (real VAD, real models, real speech)', () => {
  let service: TranscriptionService;
  before(async () => {
    service = await TranscriptionService.load({ realtimeModel: null, parallelism: 1 });
  });
  after(() => service.dispose());

  /**
   * Finals of `samples` through a recorder. `firstHypothesis` is the test hook: the guard is handed it instead of the
   * model's first decode of each utterance (a decoder loop on demand); every re-decode is the real model's.
   */
  async function finalsOf(samples: Float32Array, firstHypothesis?: string, { failRedecode = false, decodes = [] as string[] } = {}): Promise<FinalTranscript[]> {
    const real = service.scheduler.forSession('guard-test');
    const transcriber = (): SessionTranscriber => ({
      ...real,
      final: async (audio, signal): Promise<Transcript> => {
        const first = decodes.length === 0;
        if (!first && failRedecode) throw new Error('inference worker stopped unexpectedly');
        const t = await real.final(audio, signal);
        decodes.push(t.text);
        return firstHypothesis !== undefined && first ? { ...t, text: firstHypothesis } : t;
      },
    });
    const recorders = { createRecorder: async () => new Recorder(await VoiceActivityDetector.create(service.silero), transcriber, { enableRealtimeTranscription: false }) };
    return (await transcribe(recorders, samples)).finals;
  }

  it('keeps "ten of clubs" said four times and the "go forward ten meters" after it (one utterance)', async () => {
    const finals = await finalsOf(tenOfClubsFourTimesThenGoForward());
    assert.equal(finals.length, 1, JSON.stringify(finals.map((f) => f.text)));
    assert.deepEqual(tenOfCopies(normalizeWords(finals[0]!.text)), { copies: 4, rest: GO_FORWARD }, finals[0]!.text);
    assert.equal(finals[0]!.guard, 'repetition_kept');
  });

  for (const times of [2, 3, 5]) {
    it(`keeps a phrase said ${times} times`, async () => {
      const finals = await finalsOf(repeated(trimmedClip('cards-001.wav'), times));
      assert.equal(finals.length, 1, JSON.stringify(finals.map((f) => f.text)));
      assert.deepEqual(tenOfCopies(normalizeWords(finals[0]!.text)), { copies: times, rest: [] }, finals[0]!.text);
      assert.equal(finals[0]!.guard, 'repetition_kept');
    });
  }

  it('keeps a sentence said twice in one breath', async () => {
    const finals = await finalsOf(repeated(trimmedClip('goforward.wav'), 2, 0.15));
    assert.equal(finals.length, 1, JSON.stringify(finals.map((f) => f.text)));
    assert.deepEqual(normalizeWords(finals[0]!.text), [...GO_FORWARD, ...GO_FORWARD], finals[0]!.text);
  });

  it('cuts a decoder loop that repeats a phrase more often than the audio holds', async () => {
    const finals = await finalsOf(repeated(trimmedClip('cards-001.wav'), 1), 'Ten of clubs, ten of clubs, ten of clubs, ten of clubs, ten of clubs.');
    assert.equal(finals.length, 1);
    assert.deepEqual(tenOfCopies(normalizeWords(finals[0]!.text)), { copies: 1, rest: [] }, finals[0]!.text);
    assert.equal(finals[0]!.guard, 'loop_cut');
  });

  it('cuts a real decoder loop on real audio: "go forward ten meters" in pink noise at 0 dB', async () => {
    // The model's own loop, no hook (test/fixtures/loops/README.md): its first decode says the phrase 4.5 times.
    const audio = readWav(fs.readFileSync(new URL('../fixtures/loops/goforward-pink-0db.wav', import.meta.url))).samples;
    const decodes: string[] = [];
    const finals = await finalsOf(audio, undefined, { decodes });
    assert.ok(occurrences(normalizeWords(decodes[0] ?? ''), ['go', 'forward']) >= 3, `the decoder looped: ${decodes[0]}`);
    assert.equal(finals.length, 1, JSON.stringify(finals.map((f) => f.text)));
    const words = normalizeWords(finals[0]!.text);
    assert.deepEqual(words.slice(0, 3), ['go', 'forward', 'ten'], finals[0]!.text);
    assert.equal(occurrences(words, ['go', 'forward']), 1, finals[0]!.text);
    assert.ok(words.length <= 6, `the loop is cut: ${finals[0]!.text}`);
    assert.equal(finals[0]!.guard, 'loop_cut');
  });

  it('cuts a sentence repeated twice on 1.9 s of audio', async () => {
    const speech = trimmedClip('goforward.wav');
    assert.ok(Math.abs(speech.length / 16000 - 1.9) < 0.3, `${speech.length / 16000} s`);
    const finals = await finalsOf(repeated(speech, 1), 'Go forward ten meters. Go forward ten meters.');
    assert.equal(finals.length, 1);
    assert.deepEqual(normalizeWords(finals[0]!.text), GO_FORWARD);
    assert.equal(finals[0]!.guard, 'loop_cut');
  });

  it('cuts a tail repeat of the utterance start', async () => {
    const finals = await finalsOf(repeated(trimmedClip('goforward.wav'), 1), 'Go forward ten meters. Go forward.');
    assert.deepEqual(normalizeWords(finals[0]!.text), GO_FORWARD);
    assert.equal(finals[0]!.guard, 'loop_cut');
  });

  it('keeps the first decode when the check fails', async () => {
    const finals = await finalsOf(repeated(trimmedClip('cards-001.wav'), 1), 'Ten of clubs, ten of clubs, ten of clubs.', { failRedecode: true });
    assert.deepEqual(finals.map((f) => [f.text, f.guard]), [['Ten of clubs, ten of clubs, ten of clubs.', 'unchecked']]);
  });

  it('recovers the words the audio holds after a cut loop', async () => {
    const audio = repeated(trimmedClip('cards-001.wav'), 1, 0.12, trimmedClip('goforward.wav'));
    const finals = await finalsOf(audio, 'Ten of clubs, ten of clubs, ten of clubs.');
    assert.equal(finals.length, 1);
    assert.deepEqual(tenOfCopies(normalizeWords(finals[0]!.text)), { copies: 1, rest: GO_FORWARD }, finals[0]!.text);
    assert.equal(finals[0]!.guard, 'loop_cut');
  });

  it('keeps every word of fast speech (1.6× and 1.8× tempo) that it hears at 1.0×', async () => {
    const [normal] = await finalsOf(concat(silence(0.5), senseAtTempo('1.0'), silence(1)));
    assert.ok(normal && splitWords(normal.text).length >= 22, normal?.text);
    for (const tempo of ['1.6', '1.8'] as const) {
      const finals = await finalsOf(concat(silence(0.5), senseAtTempo(tempo), silence(1)));
      assert.equal(finals.length, 1);
      const result = wer([{ reference: normal.text, hypothesis: finals[0]!.text }]);
      // The sentence's end ("to do for them") is what a token budget used to cut.
      assert.match(finals[0]!.text.toLowerCase(), /in his power to do for them/, `${tempo}×: ${finals[0]!.text}`);
      assert.ok(result.errors <= 1, `${tempo}×: ${finals[0]!.text} vs ${normal.text}`);
    }
  });
});
