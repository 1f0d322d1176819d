/**
 * `npm run load -- --protocol all|seed|openai|deepgram|wyoming [--sessions 12]`: N real-time clients of one protocol
 * against a server started here, each speaking its own order of the dev sentences with 1.2 s pauses. The same two
 * latencies for every protocol, measured from what the client sends: first partial = from the first audio of a
 * sentence to its first partial (stt_update, transcription delta, interim Results, transcript-chunk); final = from
 * the last audio of a sentence to its final (stt_final, ...completed, is_final Results; for Wyoming, whose
 * transcript answers a whole command, each sentence is one command and the clock starts at audio-stop).
 */
import net from 'node:net';
import WebSocket from 'ws';
import { float32ToPcm16 } from '../src/audio/pcm.ts';
import { resample } from '../src/audio/resample.ts';
import { encodeWyomingEvent, WyomingReader } from '../src/server/protocols/wyoming.ts';
import { clipSamples } from '../eval/conversation.ts';
import { SPEECH_CLIPS } from '../eval/speech.ts';
import { wer } from '../eval/wer.ts';
import { startServerProcess } from '../eval/server-process.ts';
import { ms, pct, percentile, table } from '../eval/stats.ts';

type Protocol = 'seed' | 'openai' | 'deepgram' | 'wyoming';
const CHUNK_MS = 100;
const PAUSE_S = 1.2;
const SENTENCES = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav');

/** What a protocol client reports back to the harness. */
interface Sink {
  partial(): void;
  final(text: string): void;
}

/** One protocol's client: opens, starts a sentence, sends 100 ms of 16 kHz PCM16, ends a sentence, closes. */
interface Driver {
  sentenceStart(): void;
  send(pcm: Buffer): void;
  sentenceEnd(): void;
  close(): Promise<void>;
}

function ws(url: string, protocols?: string[]): Promise<WebSocket> {
  const socket = new WebSocket(url, protocols, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

const DRIVERS: Record<Protocol, (base: string, wyomingPort: number, sink: Sink) => Promise<Driver>> = {
  async seed(base, _p, sink) {
    const s = await ws(`${base.replace(/^http/, 'ws')}/ws/stream`);
    s.on('message', (d, binary) => {
      if (binary) return;
      const m = JSON.parse(d.toString()) as { type: string; text?: string };
      if (m.type === 'stt_update') sink.partial();
      else if (m.type === 'stt_final') sink.final(m.text ?? '');
    });
    s.send(JSON.stringify({ type: 'stt_start', session_id: 'load', sample_rate: 16000 }));
    return { sentenceStart() {}, send: (pcm) => s.send(pcm), sentenceEnd() {}, close: async () => void s.close() };
  },
  async openai(base, _p, sink) {
    const s = await ws(`${base.replace(/^http/, 'ws')}/v1/realtime?intent=transcription`);
    s.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; transcript?: string };
      if (m.type === 'conversation.item.input_audio_transcription.delta') sink.partial();
      else if (m.type === 'conversation.item.input_audio_transcription.completed') sink.final(m.transcript ?? '');
    });
    s.send(JSON.stringify({ type: 'session.update', session: { type: 'transcription', audio: { input: { format: { type: 'audio/pcm', rate: 24000 } } } } }));
    return {
      sentenceStart() {},
      // OpenAI's rate is 24 kHz; the harness resamples each 100 ms chunk (cheap next to the base64 the protocol needs).
      send: (pcm) => s.send(JSON.stringify({ type: 'input_audio_buffer.append', audio: to24k(pcm).toString('base64') })),
      sentenceEnd() {},
      close: async () => void s.close(),
    };
  },
  async deepgram(base, _p, sink) {
    const s = await ws(`${base.replace(/^http/, 'ws')}/v1/listen?encoding=linear16&sample_rate=16000&interim_results=true`);
    s.on('message', (d) => {
      const m = JSON.parse(d.toString()) as { type: string; is_final?: boolean; channel?: { alternatives: Array<{ transcript: string }> } };
      if (m.type !== 'Results') return;
      if (m.is_final) sink.final(m.channel!.alternatives[0]!.transcript);
      else sink.partial();
    });
    return { sentenceStart() {}, send: (pcm) => s.send(pcm), sentenceEnd() {}, close: async () => void s.send(JSON.stringify({ type: 'CloseStream' })) };
  },
  async wyoming(_base, port, sink) {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const reader = new WyomingReader();
    s.on('data', (d) => {
      for (const e of reader.push(d)) {
        if (e.type === 'transcript-chunk') sink.partial();
        else if (e.type === 'transcript') sink.final(String(e.data.text ?? ''));
      }
    });
    const format = { rate: 16000, width: 2, channels: 1 };
    return {
      sentenceStart: () => {
        s.write(encodeWyomingEvent('transcribe', { language: 'en' }));
        s.write(encodeWyomingEvent('audio-start', format));
      },
      send: (pcm) => s.write(encodeWyomingEvent('audio-chunk', format, pcm)),
      sentenceEnd: () => s.write(encodeWyomingEvent('audio-stop')),
      close: async () => void s.end(),
    };
  },
};

function to24k(pcm16k: Buffer): Buffer {
  const f = new Float32Array(pcm16k.length / 2);
  for (let i = 0; i < f.length; i++) f[i] = pcm16k.readInt16LE(i * 2) / 32768;
  return Buffer.from(float32ToPcm16(resample(f, 16000, 24000)).buffer);
}

/** Each sentence as 100 ms PCM16 chunks, made once. */
const CHUNKS = SENTENCES.map((c) => {
  const pcm = Buffer.from(float32ToPcm16(clipSamples(c)).buffer);
  const out: Buffer[] = [];
  for (let i = 0; i < pcm.length; i += (16000 * 2 * CHUNK_MS) / 1000) out.push(pcm.subarray(i, i + (16000 * 2 * CHUNK_MS) / 1000));
  return out;
});
const SILENCE = Buffer.alloc((16000 * 2 * CHUNK_MS) / 1000);
const sleep = (msec: number) => new Promise((r) => setTimeout(r, msec));

interface Sentence {
  text: string;
  firstAudio: number;
  lastAudio?: number;
  firstPartial?: number;
  final?: number;
  hypothesis?: string;
}

async function speak(protocol: Protocol, base: string, wyomingPort: number, order: number[]): Promise<Sentence[]> {
  const sentences: Sentence[] = [];
  const pending = () => sentences.find((s) => s.final === undefined);
  const sink: Sink = {
    partial() {
      const s = pending();
      if (s && s.firstPartial === undefined) s.firstPartial = performance.now();
    },
    final(text) {
      const s = pending();
      if (!s) return;
      s.final = performance.now();
      s.hypothesis = text;
    },
  };
  const driver = await DRIVERS[protocol](base, wyomingPort, sink);
  const t0 = performance.now();
  let sent = 0;
  const pace = async () => {
    sent++;
    const wait = t0 + sent * CHUNK_MS - performance.now();
    if (wait > 0) await sleep(wait);
  };
  for (const k of order) {
    driver.sentenceStart();
    const sentence: Sentence = { text: SENTENCES[k]!.text, firstAudio: performance.now() };
    sentences.push(sentence);
    for (const chunk of CHUNKS[k]!) {
      driver.send(chunk);
      await pace();
    }
    sentence.lastAudio = performance.now();
    if (protocol === 'wyoming') {
      driver.sentenceEnd();
      sentence.lastAudio = performance.now();
    }
    for (let i = 0; i < (PAUSE_S * 1000) / CHUNK_MS; i++) {
      if (protocol !== 'wyoming') driver.send(SILENCE);
      await pace();
    }
  }
  const until = performance.now() + 30000;
  while (pending() && performance.now() < until) await sleep(50);
  await driver.close();
  return sentences;
}

export async function protocolLoad(protocol: Protocol, sessions: number, perSession = 5) {
  // All clients come from 127.0.0.1: the per-address caps are lifted, as in the seed protocol's load bench.
  const cap = String(Math.max(16, sessions * 2));
  const server = await startServerProcess(['--max-sessions', cap, '--max-sessions-per-client', cap, '--max-connections-per-client', String(Number(cap) * 4), '--wyoming-port', '0']);
  const wyomingPort = Number(/Wyoming on [^:]+:(\d+)/.exec(server.log())?.[1] ?? 0);
  try {
    const runs = await Promise.all(
      Array.from({ length: sessions }, async (_, i) => {
        await sleep(i * 300);
        return speak(protocol, server.url, wyomingPort, Array.from({ length: perSession }, (_, k) => (i + k) % SENTENCES.length));
      }),
    );
    const all = runs.flat();
    const done = all.filter((s) => s.final !== undefined);
    return {
      protocol,
      sessions,
      finals: `${done.length}/${all.length}`,
      wer: wer(done.map((s) => ({ reference: s.text, hypothesis: s.hypothesis ?? '' }))).wer,
      firstPartial: all.filter((s) => s.firstPartial !== undefined).map((s) => s.firstPartial! - s.firstAudio),
      final: done.map((s) => s.final! - s.lastAudio!),
    };
  } finally {
    await server.stop();
  }
}

/** The table for `npm run load -- --protocol all|seed|openai|deepgram|wyoming [--sessions N]`. */
export async function printProtocolLoad(protocol: string, sessions: number): Promise<void> {
  const protocols: Protocol[] = protocol === 'all' ? ['seed', 'openai', 'deepgram', 'wyoming'] : [protocol as Protocol];
  const rows = [];
  for (const p of protocols) {
    if (!(p in DRIVERS)) throw new Error(`--protocol must be all, seed, openai, deepgram or wyoming (got ${p})`);
    const r = await protocolLoad(p, sessions);
    rows.push([p, r.sessions, r.finals, pct(r.wer), `${ms(percentile(r.firstPartial, 50))} / ${ms(percentile(r.firstPartial, 95))}`, `${ms(percentile(r.final, 50))} / ${ms(percentile(r.final, 95))}`]);
    console.error(`${p}: done`);
  }
  console.log(table(['protocol', 'sessions', 'finals', 'WER', 'first partial after first audio p50 / p95', 'final after last audio p50 / p95'], rows));
}
