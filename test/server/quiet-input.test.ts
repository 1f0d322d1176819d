import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { writeWav } from '../../src/audio/wav.ts';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import type { ServerMessage } from '../../src/protocol/seed-messages.ts';
import { atPeak, overNoise, pinkNoise } from '../../eval/quiet-speech.ts';
import { clipSamples, concat, finals, metricValue, record, serverForSuite, SINGLE_UTTERANCE_CLIPS, transcribeOver, werOf, waitFor } from './helpers.ts';

const RATE = 16000;
const GAP_SECONDS = 1;
const CLIPS = SINGLE_UTTERANCE_CLIPS;

/** The dev clips one after another, each through `scale`, a second apart; where each clip lies (seconds). */
function dialogue(scale: (x: Float32Array, i: number) => Float32Array): { samples: Float32Array; spans: Array<[number, number]> } {
  const gap = new Float32Array(GAP_SECONDS * RATE);
  const parts: Float32Array[] = [gap];
  const spans: Array<[number, number]> = [];
  let at = gap.length;
  CLIPS.forEach((c, i) => {
    const x = scale(clipSamples(c), i);
    spans.push([at / RATE, (at + x.length) / RATE]);
    parts.push(x, gap);
    at += x.length + gap.length;
  });
  return { samples: concat(...parts), spans };
}

/** Speech at `peakDbfs` over the -72 dBFS noise floor: a soft voice across the room. */
const quiet = (peakDbfs: number) => {
  const d = dialogue((x) => atPeak(x, peakDbfs));
  return { ...d, samples: overNoise(d.samples, `e2e ${peakDbfs}`) };
};

type Final = Extract<ServerMessage, { type: 'stt_final' }>;

/** For each clip, the finals whose audio overlaps it. */
function finalsPerClip(f: Final[], spans: Array<[number, number]>): Final[][] {
  return spans.map(([a, b]) => f.filter((x) => x.text.trim() && Math.min(b, x.end) - Math.max(a, x.start) > 0));
}

describe('quiet input: adaptive gain before the VAD', () => {
  const t = serverForSuite();
  const results = new Map<string, { wer: number; finals: Final[] }>();

  async function run(name: string, samples: Float32Array, agc?: boolean): Promise<{ log: ServerMessage[]; finals: Final[] }> {
    const client = await EarshotClient.connect(t.ws);
    try {
      const { log } = await transcribeOver(client, samples, { agc });
      const f = finals(log);
      results.set(name, { wer: werOf(f.map((x) => x.text), CLIPS), finals: f });
      return { log, finals: f };
    } finally {
      await client.close();
    }
  }

  const normal = dialogue((x) => x);
  let normalRun: Promise<{ finals: Final[] }> | undefined;
  /** The normal-level finals (tests may run alone: each that compares with them gets them). */
  const atNormal = () => (normalRun ??= run('normal', normal.samples));
  /** Normal level: the WER the quiet levels are held to; agc on and off give the same finals (no gain applied). */
  test('speech at normal level comes out as without the gain', async () => {
    const on = await atNormal();
    const off = await run('normal, agc off', normal.samples, false);
    assert.deepEqual(on.finals.map((x) => x.text), off.finals.map((x) => x.text));
    assert.equal(on.finals.length, CLIPS.length);
    console.log(`# normal level: WER ${(results.get('normal')!.wer * 100).toFixed(1)}%`);
  });

  for (const peak of [-36, -46]) {
    test(`dev clips at ${peak} dBFS peak over the noise floor: every sentence has its final, WER near normal level's`, async () => {
      const { samples, spans } = quiet(peak);
      const { finals: f } = await run(`${peak}`, samples);
      const per = finalsPerClip(f, spans);
      per.forEach((x, i) => assert.ok(x.length > 0, `no final for ${CLIPS[i]!.file}: ${JSON.stringify(f.map((y) => [y.start, y.end, y.text]))}`));
      const w = results.get(`${peak}`)!.wer;
      await atNormal();
      const base = results.get('normal')!.wer;
      console.log(`# ${peak} dBFS: WER ${(w * 100).toFixed(1)}% (normal ${(base * 100).toFixed(1)}%): ${f.map((x) => x.text).join(' | ')}`);
      // Issue #30 asks for two points. At -46 dBFS the speech is only ~10 dB above the noise floor: a fixed +24 dB
      // gain (the ideal) loses the same words to the noise (docs/audio-gain.md), so there the gain is held to its
      // transparency (next test) and the noisy WER to 6 points.
      assert.ok(w <= base + (peak === -36 ? 0.02 : 0.06), `WER ${(w * 100).toFixed(1)}% against ${(base * 100).toFixed(1)}% at normal level`);
    });

    test(`dev clips at ${peak} dBFS peak without added noise: WER within two points of normal level's`, async () => {
      const { samples } = dialogue((x) => atPeak(x, peak));
      const { finals: f } = await run(`${peak} clean`, samples);
      await atNormal();
      const [w, base] = [results.get(`${peak} clean`)!.wer, results.get('normal')!.wer];
      assert.ok(w <= base + 0.02, `WER ${(w * 100).toFixed(1)}% against ${(base * 100).toFixed(1)}%: ${f.map((x) => x.text).join(' | ')}`);
    });
  }

  test('at -46 dBFS without the gain (agc: false) almost nothing is heard: the switch works', async () => {
    const { finals: f } = await run('-46, agc off', quiet(-46).samples, false);
    assert.ok(f.length <= 2, `finals: ${JSON.stringify(f.map((x) => x.text))}`);
  });

  test('dev clips at -56 dBFS peak (speech at the noise floor): every sentence gives some text', async () => {
    const { samples, spans } = quiet(-56);
    const { finals: f } = await run('-56', samples);
    const per = finalsPerClip(f, spans);
    per.forEach((x, i) => assert.ok(x.length > 0, `no text for ${CLIPS[i]!.file}: ${JSON.stringify(f.map((y) => [y.start, y.end, y.text]))}`));
    console.log(`# -56 dBFS: WER ${(results.get('-56')!.wer * 100).toFixed(1)}%`);
  });

  test('clipped input comes out as without the gain', async () => {
    const clipped = dialogue((x) => x.map((v) => Math.max(-1, Math.min(1, v * 4)))).samples;
    const on = await run('clipped', clipped);
    const off = await run('clipped, agc off', clipped, false);
    assert.deepEqual(on.finals.map((x) => x.text), off.finals.map((x) => x.text));
  });

  test('20 s of the noise floor alone, and tones over it, give zero words', async () => {
    const noise = pinkNoise(20 * RATE, -72, 'e2e noise');
    const tones = noise.map((v, i) => v + (Math.floor(i / RATE) % 2 ? 0.01 : 0.001) * Math.sin((2 * Math.PI * (i < 10 * RATE ? 440 : 1000) * i) / RATE));
    for (const [name, samples] of [['noise', noise], ['tones', tones]] as const) {
      const { finals: f } = await run(name, samples);
      assert.deepEqual(f.map((x) => x.text), [], name);
    }
  });

  test('a loud talker right after a quiet one: every sentence has its final, the loud ones as without the gain', async () => {
    const { samples, spans } = dialogue((x, i) => (i < 5 ? atPeak(x, -46) : x));
    const input = overNoise(samples, 'e2e quiet then loud');
    const { finals: f } = await run('quiet then loud', input);
    const per = finalsPerClip(f, spans);
    per.forEach((x, i) => assert.ok(x.length > 0, `no final for ${CLIPS[i]!.file}: ${JSON.stringify(f.map((y) => [y.start, y.end, y.text]))}`));
    // Today (agc off) the quiet talker is lost and the loud one heard: the loud one must come out as well with the gain.
    const today = finalsPerClip((await run('quiet then loud, agc off', input, false)).finals, spans);
    const loudWer = werOf(per.slice(5).flat().map((x) => x.text), CLIPS.slice(5));
    const todayWer = werOf(today.slice(5).flat().map((x) => x.text), CLIPS.slice(5));
    console.log(`# quiet then loud: ${f.map((x) => x.text).join(' | ')}; loud talker WER ${(loudWer * 100).toFixed(1)}%, without the gain ${(todayWer * 100).toFixed(1)}%`);
    assert.ok(loudWer <= todayWer + 0.02, `loud talker WER ${(loudWer * 100).toFixed(1)}% against ${(todayWer * 100).toFixed(1)}% without the gain`);
  });

  test('speech too quiet even at the most gain: a stt_notice INPUT_TOO_QUIET; the gain is in /metrics', async () => {
    const faint = overNoise(dialogue((x) => atPeak(x, -76)).samples, 'e2e faint', -92);
    const client = await EarshotClient.connect(t.ws);
    const log = record(client);
    try {
      await transcribeOver(client, faint);
    } finally {
      await client.close();
    }
    const notices = log.filter((m) => m.type === 'stt_notice');
    assert.equal(notices.length, 1, JSON.stringify(notices));
    assert.equal((notices[0] as Extract<ServerMessage, { type: 'stt_notice' }>).code, 'INPUT_TOO_QUIET');
    await waitFor(async () => ((await metricValue(t.http, 'earshot_input_gain_db_count')) ?? 0) > 0, 10000, 'gain observations');
    assert.ok(((await metricValue(t.http, 'earshot_input_gain_db_sum')) ?? 0) > 0, 'quiet speech was raised');
  });

  test('a quiet recording uploaded to the REST route is levelled the same way, its gain in /metrics', async () => {
    const c = CLIPS[0]!;
    const pad = new Float32Array(RATE / 2);
    const quietClip = overNoise(concat(pad, atPeak(clipSamples(c), -46), pad), 'e2e upload');
    const before = (await metricValue(t.http, 'earshot_input_gain_db_count')) ?? 0;
    const fd = new FormData();
    fd.append('file', new Blob([new Uint8Array(writeWav(quietClip, RATE))], { type: 'audio/wav' }), 'quiet.wav');
    const res = await fetch(`${t.http}/v1/audio/transcriptions`, { method: 'POST', body: fd });
    assert.equal(res.status, 200);
    const { text } = (await res.json()) as { text: string };
    assert.ok(werOf([text], [c]) <= 0.25, `"${text}" for "${c.text}"`);
    assert.ok(((await metricValue(t.http, 'earshot_input_gain_db_count')) ?? 0) > before, 'the upload observed its gain');
  });

  test('stt_start with an agc that is not a boolean is a BAD_MESSAGE', async () => {
    const client = await EarshotClient.connect(t.ws);
    const log = record(client);
    try {
      client.sendJson({ type: 'stt_start', session_id: 's', agc: 'yes' });
      await waitFor(() => log.some((m) => m.type === 'stt_error'), 10000, 'stt_error');
    } finally {
      await client.close();
    }
    const e = log.find((m) => m.type === 'stt_error') as Extract<ServerMessage, { type: 'stt_error' }>;
    assert.equal(e.code, 'BAD_MESSAGE');
    assert.match(e.error, /agc/);
  });
});
