import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import WebSocket from 'ws';
import { encodeWyomingEvent, WyomingReader } from '../../src/server/protocols/wyoming.ts';
import { serverForSuite, waitFor } from '../server/helpers.ts';

/** Every protocol shares the session cap, the metrics and the drain of the session core. */
describe('limits, metrics and drain across protocols', () => {
  const t = serverForSuite({ config: { maxSessions: 1, wyomingPort: 0 } });

  test('one slot: a Deepgram stream takes it, the next handshake is refused, Wyoming says OVERLOADED; drain closes with 1012', async () => {
    const base = t.http.replace(/^http/, 'ws');
    const open = (path: string) =>
      new Promise<WebSocket | number>((resolve) => {
        const ws = new WebSocket(`${base}${path}`);
        ws.once('open', () => resolve(ws));
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => {});
      });
    const deepgram = (await open('/v1/listen?encoding=linear16&sample_rate=16000')) as WebSocket;
    await waitFor(() => t.server.sessions === 1, 60_000, 'the Deepgram session holds the slot');
    assert.equal(await open('/v1/realtime?intent=transcription'), 503);

    const wyoming = net.connect(t.server.wyomingAddress!.port, '127.0.0.1');
    const reader = new WyomingReader();
    const events: string[] = [];
    wyoming.on('data', (d) => events.push(...reader.push(d).map((e) => `${e.type}:${String(e.data.code ?? '')}`)));
    wyoming.write(encodeWyomingEvent('audio-start', { rate: 16000, width: 2, channels: 1 }));
    await waitFor(() => events.includes('error:OVERLOADED'), 60_000, 'OVERLOADED for Wyoming');

    const metrics = await (await fetch(`${t.http}/metrics`)).text();
    assert.match(metrics, /earshot_sessions_started_total\{protocol="deepgram"\} 1/);

    const closed = new Promise<number>((resolve) => deepgram.once('close', (code) => resolve(code)));
    const wyomingClosed = new Promise<void>((resolve) => wyoming.once('close', () => resolve()));
    void t.server.drain();
    assert.equal(await closed, 1012, 'no utterance in progress: closed at once with "service restart"');
    await wyomingClosed;
  });
});
