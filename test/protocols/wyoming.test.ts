import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { float32ToPcm16 } from '../../src/audio/pcm.ts';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { assertSameFinals } from './same-finals.ts';
import { clip, conversation, disposeSharedService, finals, sharedService, startServer, transcribeOver, werOf, type TestServer } from '../server/helpers.ts';

const CLIPS = ['cards-002.wav', 'sense_and_sensibility_01_austen_64kb-0880.wav'].map(clip);

/**
 * A Wyoming peer written from the published spec (rhasspy/wyoming, wyoming/event.py), independent of the server's
 * code: a JSON header line with "type", "version", "data_length" and "payload_length", then the data JSON, then
 * the payload.
 */
class SpecClient {
  private buf = Buffer.alloc(0);
  private readonly events: Array<{ type: string; data: Record<string, unknown> }> = [];
  private wake?: () => void;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.parse();
      this.wake?.();
    });
    this.closed = new Promise((r) => socket.on('close', () => (r(), this.wake?.())));
  }

  /** `preamble`: bytes a balancer would write first (a PROXY header); `localAddress`: the address to connect from. */
  static connect(port: number, options: { preamble?: Buffer | string; localAddress?: string } = {}): Promise<SpecClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', localAddress: options.localAddress }, () => {
        if (options.preamble) s.write(options.preamble);
        resolve(new SpecClient(s));
      });
      s.once('error', reject);
    });
  }

  write(type: string, data?: Record<string, unknown>, payload?: Buffer): void {
    const header: Record<string, unknown> = { type, version: '1.5.2' };
    const dataBytes = data ? Buffer.from(JSON.stringify(data), 'utf8') : undefined;
    if (dataBytes) header.data_length = dataBytes.length;
    if (payload) header.payload_length = payload.length;
    this.socket.write(Buffer.concat([Buffer.from(JSON.stringify(header) + '\n'), dataBytes ?? Buffer.alloc(0), payload ?? Buffer.alloc(0)]));
  }

  async next(type: string, timeoutMs = 30000): Promise<Record<string, unknown>> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const i = this.events.findIndex((e) => e.type === type);
      if (i >= 0) return this.events.splice(i, 1)[0]!.data;
      if (this.socket.destroyed || Date.now() > until) throw new Error(`no ${type}; have ${this.events.map((e) => e.type).join(', ')}`);
      await new Promise<void>((r) => {
        this.wake = r;
        setTimeout(r, 100);
      });
    }
  }

  all(type: string): Array<Record<string, unknown>> {
    return this.events.filter((e) => e.type === type).map((e) => e.data);
  }

  private parse(): void {
    for (;;) {
      const nl = this.buf.indexOf(0x0a);
      if (nl < 0) return;
      const header = JSON.parse(this.buf.subarray(0, nl).toString()) as { type: string; data?: Record<string, unknown>; data_length?: number; payload_length?: number };
      const need = nl + 1 + (header.data_length ?? 0) + (header.payload_length ?? 0);
      if (this.buf.length < need) return;
      const data = { ...(header.data ?? {}), ...(header.data_length ? JSON.parse(this.buf.subarray(nl + 1, nl + 1 + header.data_length).toString()) : {}) };
      this.events.push({ type: header.type, data });
      this.buf = this.buf.subarray(need);
    }
  }
}

/** Home Assistant's STT exchange: transcribe, audio-start, 1024-sample chunks at `speed` × real time, audio-stop. */
async function speak(c: SpecClient, samples: Float32Array, speed = 4): Promise<void> {
  const pcm = Buffer.from(float32ToPcm16(samples).buffer);
  const format = { rate: 16000, width: 2, channels: 1 };
  c.write('transcribe', { language: 'en' });
  c.write('audio-start', { ...format, timestamp: 0 });
  for (let i = 0, ms = 0; i < pcm.length; i += 2048, ms += 64) {
    c.write('audio-chunk', { ...format, timestamp: ms }, pcm.subarray(i, i + 2048));
    await new Promise((r) => setTimeout(r, 64 / speed));
  }
  c.write('audio-stop', { timestamp: Math.round((samples.length / 16000) * 1000) });
}

describe('Wyoming (Home Assistant) over TCP', () => {
  let t: TestServer;
  let port: number;

  before(async () => {
    t = await startServer({ service: await sharedService(), config: { wyomingPort: 0 } });
    port = t.server.wyomingAddress!.port;
  });
  after(async () => {
    await t.server.close();
    await disposeSharedService();
  });

  test('describe → info; a spoken command → transcript (the seed protocol\'s finals), with streaming chunks first', async () => {
    const c = await SpecClient.connect(port);
    c.write('describe');
    const info = await c.next('info');
    const asr = (info.asr as Array<{ name: string; models: Array<{ name: string; languages: string[] }>; installed: boolean }>)[0]!;
    assert.equal(asr.installed, true);
    assert.deepEqual(asr.models[0]!.languages, ['en']);

    const { samples } = conversation(CLIPS, 1);
    await speak(c, samples);
    const transcript = await c.next('transcript');
    assert.ok(werOf([transcript.text as string], CLIPS) <= 0.1, String(transcript.text));
    assert.ok(c.all('transcript-chunk').length > 0, 'streamed chunks while speaking');
    assert.equal(c.all('transcript-start').length, 1);
    assert.equal(c.all('transcript-stop').length, 1);

    const seed = await EarshotClient.connect(t.ws);
    const { log } = await transcribeOver(seed, samples);
    await seed.close();
    assertSameFinals([transcript.text as string], [finals(log).map((f) => f.text).join(' ')]);

    // The same connection takes the next command.
    await speak(c, conversation([CLIPS[0]!], 0.5).samples);
    // "Four queen of cloves": the one error the seed protocol makes on this clip too.
    assert.ok(werOf([(await c.next('transcript')).text as string], [CLIPS[0]!]) <= 0.25);
    c.socket.end();
  });

  test('bad events get an error event; a header that lies about its length ends that connection only', async () => {
    const c = await SpecClient.connect(port);
    c.write('audio-chunk', { rate: 16000, width: 2, channels: 1 }, Buffer.alloc(64));
    assert.equal((await c.next('error')).code, 'NOT_LISTENING');
    c.write('dance');
    assert.equal((await c.next('error')).code, 'UNKNOWN_TYPE');
    c.write('audio-start', { rate: 16000, width: 4, channels: 1 });
    assert.equal((await c.next('error')).code, 'BAD_MESSAGE');
    c.socket.write('{"type":"audio-chunk","payload_length":-5}\n');
    assert.equal((await c.next('error')).code, 'BAD_MESSAGE');
    await c.closed;

    const d = await SpecClient.connect(port);
    d.socket.write('this is not json\n');
    assert.equal((await d.next('error')).code, 'BAD_MESSAGE');
    await d.closed;

    const e = await SpecClient.connect(port);
    await speak(e, conversation([CLIPS[1]!], 0.5).samples, 8);
    assert.ok(werOf([(await e.next('transcript')).text as string], [CLIPS[1]!]) <= 0.1);
    e.socket.end();
  });

  test('admission on accept holds on the Wyoming port too: beyond the per-address socket cap a connection is closed', async () => {
    // One table for both ports: 2 sockets per address in all; a connect rate that does not get in the way here.
    const small = await startServer({ service: await sharedService(), config: { wyomingPort: 0, maxSocketsPerClient: 2, connectRatePerClient: 1000 } });
    try {
      const wyomingPort = small.server.wyomingAddress!.port;
      const [a, b] = [await SpecClient.connect(wyomingPort), await SpecClient.connect(wyomingPort)];
      const third = await SpecClient.connect(wyomingPort);
      await third.closed; // closed by the server, no answer
      a.write('describe');
      assert.ok(await a.next('info'), 'the admitted ones still talk');
      b.socket.destroy();
      await b.closed;
      await new Promise((r) => setTimeout(r, 50)); // the server sees the close
      const again = await SpecClient.connect(wyomingPort); // a place freed
      again.write('describe');
      assert.ok(await again.next('info'));
      a.socket.destroy();
      again.socket.destroy();
      await Promise.all([a.closed, again.closed]);
      await new Promise((r) => setTimeout(r, 50));
      const metrics = await (await fetch(`${small.http}/metrics`)).text();
      assert.match(metrics, /^earshot_refused_connections_total\{reason="client_sockets"\} 1$/m);
    } finally {
      await small.server.close();
    }
  });

  test('behind a trusted balancer the PROXY header names the client that per-client caps count; from anyone else it is not read', async () => {
    const lb = await startServer({ service: await sharedService(), config: { wyomingPort: 0, trustedProxies: ['127.0.0.1'], maxConnectionsPerClient: 1 } });
    try {
      const wyomingPort = lb.server.wyomingAddress!.port;
      const v2 = Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a2111000c', 'hex'), Buffer.from([198, 51, 100, 8, 127, 0, 0, 1, 0xdc, 0x04, 0x29, 0xcc])]);
      const clients = [
        await SpecClient.connect(wyomingPort, { preamble: 'PROXY TCP4 198.51.100.7 127.0.0.1 56324 10700\r\n' }),
        await SpecClient.connect(wyomingPort, { preamble: v2 }), // HAProxy's send-proxy-v2, another client
        await SpecClient.connect(wyomingPort), // the balancer's host itself, no header
      ];
      for (const c of clients) {
        c.write('describe');
        assert.ok(await c.next('info'), 'one connection each for three clients behind one proxy address');
      }
      const again = await SpecClient.connect(wyomingPort, { preamble: 'PROXY TCP4 198.51.100.7 127.0.0.1 56325 10700\r\n' });
      again.write('describe');
      await again.closed; // 198.51.100.7 holds its one connection already
      assert.equal(again.all('info').length, 0);

      const bad = await SpecClient.connect(wyomingPort, { preamble: 'PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n' });
      await bad.closed;
      const check = await SpecClient.connect(wyomingPort); // a health check: connects, says nothing, leaves
      check.socket.destroy();
      await check.closed;

      // 127.0.0.2 is not a trusted proxy: its "PROXY" line is just a malformed Wyoming event, and it counts as itself.
      const untrusted = await SpecClient.connect(wyomingPort, { localAddress: '127.0.0.2', preamble: 'PROXY TCP4 198.51.100.9 127.0.0.1 1 2\r\n' });
      assert.equal((await untrusted.next('error')).code, 'BAD_MESSAGE');
      await untrusted.closed;

      for (const c of clients) c.socket.destroy();
      await Promise.all(clients.map((c) => c.closed));
      const metrics = await (await fetch(`${lb.http}/metrics`)).text();
      assert.match(metrics, /^earshot_refused_upgrades_total\{reason="bad_proxy_header"\} 1$/m);
      assert.match(metrics, /^earshot_refused_upgrades_total\{reason="client_connections"\} 1$/m);
    } finally {
      await lb.server.close();
    }
  });
});
