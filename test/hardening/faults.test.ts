import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import { CATALOG } from '../../src/models/catalog.ts';
import { ModelStore, defaultModelsDir } from '../../src/models/store.ts';
import { TranscriptionService } from '../../src/pipeline/transcription-service.ts';
import { clip, clipSamples, disposeSharedService, metricValue, record, sharedService, startServer, transcribeOver, type TestServer } from '../server/helpers.ts';

const until = async (check: () => Promise<boolean> | boolean, ms = 10000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 25))) if (await check()) return true;
  return false;
};

describe('fault cases (real server, real models)', () => {
  let t: TestServer;
  let service: TranscriptionService;
  before(async () => {
    service = await sharedService();
    // The burst below comes from one address: the per-address caps (sockets, connect rate) are lifted with the rest.
    t = await startServer({ service, config: { maxSessions: 300, maxConnectionsPerClient: 300 } });
  });
  after(async () => {
    await t.server.close();
    await disposeSharedService();
  });

  it('reports a model corrupted on disk as MODEL_LOAD_ERROR, stays unready and alive', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-corrupt-'));
    for (const model of CATALOG.filter((m) => m.default)) {
      fs.mkdirSync(path.join(dir, model.name));
      for (const f of model.files) fs.copyFileSync(path.join(defaultModelsDir(), model.name, f.name), path.join(dir, model.name, f.name));
    }
    // Same size, garbage inside: the cache check passes, onnxruntime does not.
    const victim = path.join(dir, 'moonshine-base', 'decoder_model_merged.onnx');
    const fd = fs.openSync(victim, 'r+');
    fs.writeSync(fd, Buffer.alloc(4096, 0x5a), 0, 4096, 0);
    fs.closeSync(fd);
    const loading = TranscriptionService.load({ store: new ModelStore(dir) });
    loading.catch(() => {});
    const broken = await startServer({ service: loading });
    try {
      await loading.catch(() => {});
      assert.equal((await fetch(`${broken.http}/ready`)).status, 503);
      assert.equal((await fetch(`${broken.http}/health`)).status, 200);
      const client = await EarshotClient.connect(broken.ws);
      const log = record(client);
      await assert.rejects(client.start('corrupt'), (e: { code?: string }) => e.code === 'MODEL_LOAD_ERROR');
      assert.ok(log.some((m) => m.type === 'stt_error' && m.code === 'MODEL_LOAD_ERROR' && /decoder_model_merged|load|protobuf|model/i.test(m.error)));
      await client.close();
    } finally {
      await broken.server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an inference that throws costs that utterance an stt_error; the session goes on', async () => {
    // Fault injection at the engine boundary (a real model cannot be made to fail on demand): the scheduler holds
    // these same engine objects, so every job fails until the first stt_error has been seen.
    const engines = [...new Set(service.scheduler.lanes.flatMap((l) => (l.partial ? [l.final, l.partial] : [l.final])))];
    const originals = engines.map((e) => e.transcribe);
    for (const e of engines) e.transcribe = () => Promise.reject(new Error('injected inference failure'));
    const client = await EarshotClient.connect(t.ws);
    const log = record(client);
    try {
      await client.start('throws');
      await client.streamPcm(clipSamples(clip('cards-001.wav')), { realtime: false });
      await client.streamPcm(new Float32Array(16000), { realtime: false });
      assert.ok(await until(() => log.some((m) => m.type === 'stt_error')));
    } finally {
      engines.forEach((e, i) => (e.transcribe = originals[i]!));
    }
    const failed = log.find((m) => m.type === 'stt_error');
    assert.ok(failed?.type === 'stt_error' && failed.code === 'TRANSCRIPTION_FAILED' && /injected/.test(failed.error), JSON.stringify(failed));
    assert.ok(!log.some((m) => m.type === 'stt_final'));
    const before = log.length;
    await client.streamPcm(clipSamples(clip('goforward.wav')), { realtime: false });
    await client.streamPcm(new Float32Array(16000), { realtime: false });
    await client.stop();
    const final = log.slice(before).find((m) => m.type === 'stt_final');
    assert.ok(final?.type === 'stt_final' && /go forward/i.test(final.text), JSON.stringify(log.slice(before)));
    await client.close();
  });

  it('survives 1000 start/stop cycles on one connection', async () => {
    const client = await EarshotClient.connect(t.ws);
    for (let i = 0; i < 1000; i++) {
      await client.start(`cycle-${i}`);
      await client.stop();
    }
    const { log } = await transcribeOver(client, clipSamples(clip('cards-001.wav')));
    assert.ok(log.some((m) => m.type === 'stt_final' && /ten of/i.test(m.text)));
    await client.close();
    assert.ok(await until(async () => (await metricValue(t.http, 'earshot_sessions')) === 0));
  });

  it('frees everything after 200 connections opened and dropped in a burst', async () => {
    const heapBefore = process.memoryUsage().heapUsed;
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const ws = new WebSocket(t.ws);
        await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
        ws.send(JSON.stringify({ type: 'stt_start', session_id: `burst-${i}` }));
        ws.send(new Uint8Array(3200));
        if (i % 2) ws.terminate();
        else ws.close();
      }),
    );
    assert.ok(await until(async () => (await metricValue(t.http, 'earshot_sessions')) === 0 && (await metricValue(t.http, 'earshot_connections')) === 0));
    assert.equal((await fetch(`${t.http}/health`)).status, 200);
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024, 'heap grew by more than 64 MB');
  });

  it('disconnects a client that never reads instead of buffering for it without bound', async () => {
    const small = await startServer({ service, config: { sendSoftLimitBytes: 1024, sendHardLimitBytes: 64 * 1024 } });
    try {
      const ws = new WebSocket(small.ws);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      (ws as unknown as { _socket: { pause(): void } })._socket.pause(); // stop reading
      // Every bad frame earns a ~150-byte stt_error: far more than the socket buffers hold while nobody reads.
      for (let i = 0; i < 200000 && ws.readyState === WebSocket.OPEN; i++) {
        ws.send('x');
        if (i % 1000 === 0) await new Promise((r) => setImmediate(r));
      }
      (ws as unknown as { _socket: { resume(): void } })._socket.resume();
      const code = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), 20000))]);
      assert.ok(code === 1008 || code === 1006 || code === 1013, `close code ${code}`);
      assert.equal((await fetch(`${small.http}/health`)).status, 200);
    } finally {
      await small.server.close();
    }
  });
});
