import type { Socket } from 'node:net';
import { TranscriptionSession, type SessionEvent, type SessionHost } from '../transcription-session.ts';
import type { ProtocolConnection } from './websocket-adapter.ts';

/**
 * Wyoming (Home Assistant's voice protocol, rhasspy/wyoming) over TCP: each event is one JSON header line
 * `{"type", "data"?, "data_length"?, "payload_length"?}`, then `data_length` bytes of JSON merged into `data`, then
 * `payload_length` bytes of payload. An STT exchange: `describe` → `info`; `transcribe`, `audio-start`,
 * `audio-chunk`*, `audio-stop` → `transcript` (plus `transcript-start` / `transcript-chunk` / `transcript-stop` while
 * speaking, the streaming events of protocol 1.7, which we advertise).
 */

export const WYOMING_VERSION = '1.7.2';
const MAX_HEADER_BYTES = 64 * 1024;
const MAX_DATA_BYTES = 64 * 1024;
/** One audio chunk; Home Assistant sends 1024 samples (2 KiB). */
const MAX_PAYLOAD_BYTES = 1024 * 1024;

export interface WyomingEvent {
  type: string;
  data: Record<string, unknown>;
  payload?: Buffer;
}

/** A violation of the framing: the connection cannot be read any further. */
export class WyomingFramingError extends Error {}

/** Incremental reader of Wyoming events from a byte stream. */
export class WyomingReader {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  /** The header read, waiting for its data and payload bytes. */
  private pending?: { type: string; data: Record<string, unknown>; dataLength: number; payloadLength: number };

  /** Feeds bytes; returns the events they complete. Throws WyomingFramingError on a bad header. */
  push(chunk: Buffer): WyomingEvent[] {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    const events: WyomingEvent[] = [];
    for (;;) {
      if (!this.pending) {
        const all = this.peekAll();
        const newline = all.indexOf(0x0a);
        if (newline < 0) {
          if (this.bufferedBytes > MAX_HEADER_BYTES) throw new WyomingFramingError(`header line over ${MAX_HEADER_BYTES} bytes`);
          return events;
        }
        this.consume(newline + 1);
        this.pending = parseHeader(all.subarray(0, newline));
      }
      const p = this.pending;
      if (this.bufferedBytes < p.dataLength + p.payloadLength) return events;
      const body = this.take(p.dataLength + p.payloadLength);
      let data = p.data;
      if (p.dataLength > 0) {
        const extra = parseJson(body.subarray(0, p.dataLength), 'data');
        data = { ...data, ...extra };
      }
      const event: WyomingEvent = { type: p.type, data };
      if (p.payloadLength > 0) event.payload = Buffer.from(body.subarray(p.dataLength));
      events.push(event);
      this.pending = undefined;
    }
  }

  private peekAll(): Buffer {
    if (this.buffered.length > 1) this.buffered = [Buffer.concat(this.buffered)];
    return this.buffered[0] ?? Buffer.alloc(0);
  }

  private take(n: number): Buffer {
    const all = this.peekAll();
    this.consume(n);
    return all.subarray(0, n);
  }

  private consume(n: number): void {
    const all = this.peekAll();
    const rest = all.subarray(n);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
  }
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new WyomingFramingError(`${what} is not JSON`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new WyomingFramingError(`${what} must be a JSON object`);
  return v as Record<string, unknown>;
}

function length(v: unknown, max: number, name: string): number {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new WyomingFramingError(`${name} must be an integer from 0 to ${max}`);
  return v;
}

function parseHeader(line: Buffer) {
  const h = parseJson(line, 'header');
  if (typeof h.type !== 'string' || h.type.length === 0 || h.type.length > 64) throw new WyomingFramingError('header needs a "type" string');
  const data = h.data === undefined || h.data === null ? {} : h.data;
  if (typeof data !== 'object' || Array.isArray(data)) throw new WyomingFramingError('"data" must be an object');
  return {
    type: h.type,
    data: data as Record<string, unknown>,
    dataLength: length(h.data_length, MAX_DATA_BYTES, 'data_length'),
    payloadLength: length(h.payload_length, MAX_PAYLOAD_BYTES, 'payload_length'),
  };
}

/** One Wyoming event as bytes. */
export function encodeWyomingEvent(type: string, data?: Record<string, unknown>, payload?: Buffer): Buffer {
  const header: Record<string, unknown> = { type, version: WYOMING_VERSION };
  const dataBytes = data && Object.keys(data).length > 0 ? Buffer.from(JSON.stringify(data)) : undefined;
  if (dataBytes) header.data_length = dataBytes.length;
  if (payload && payload.length > 0) header.payload_length = payload.length;
  return Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`), ...(dataBytes ? [dataBytes] : []), ...(payload && payload.length > 0 ? [payload] : [])]);
}

/** What describe answers: one ASR program with the server's models, English, streaming transcripts. */
export function wyomingInfo(models: string[]): Record<string, unknown> {
  const attribution = { name: 'Earshot (Moonshine by Useful Sensors)', url: 'https://github.com/usefulsensors/moonshine' };
  return {
    asr: [
      {
        name: 'earshot',
        description: 'Earshot real-time speech-to-text (Moonshine on onnxruntime)',
        attribution,
        installed: true,
        version: '0.1.0',
        supports_transcript_streaming: true,
        models: models.map((name) => ({ name, description: name, attribution, installed: true, languages: ['en'], version: null })),
      },
    ],
    tts: [],
    handle: [],
    intent: [],
    wake: [],
  };
}

/** One audio stream: the finals collected for its transcript and the stabilized text already streamed. */
interface Stream {
  texts: string[];
  streamed: boolean;
  /** Stabilized text of the utterance in progress already sent as transcript-chunk. */
  sent: string;
  width: number;
  channels: number;
}

/** A Wyoming client on a TCP socket. */
export class WyomingSession implements ProtocolConnection {
  readonly session: TranscriptionSession<Stream>;
  private readonly reader = new WyomingReader();
  private language = 'en';
  private draining?: NodeJS.Timeout;

  constructor(
    private readonly socket: Socket,
    private readonly host: SessionHost,
    private readonly models: () => string[],
  ) {
    const transport = {
      get bufferedAmount() {
        return socket.writableLength;
      },
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      cut: () => socket.destroy(),
    };
    this.session = new TranscriptionSession<Stream>(host, transport, (event, tag) => this.onEvent(event, tag), 'wyoming');
  }

  /** TCP bytes in. */
  handleMessage(data: Buffer | ArrayBuffer | Buffer[]): void {
    let events: WyomingEvent[];
    try {
      events = this.reader.push(Buffer.isBuffer(data) ? data : Buffer.from(data as ArrayBuffer));
    } catch (e) {
      // The stream is out of step: nothing after this can be framed. Finish what was said, then close.
      this.host.metrics.errors.inc({ code: 'BAD_MESSAGE' });
      this.send('error', { text: `bad Wyoming event: ${(e as Error).message}`, code: 'BAD_MESSAGE' });
      this.socket.pause();
      void this.session.stop().finally(() => this.socket.end());
      return;
    }
    for (const event of events) this.handle(event);
  }

  async shutdown(): Promise<void> {
    clearTimeout(this.draining);
    await this.session.shutdown();
    this.socket.end();
  }

  /** A command in progress (audio-start … audio-stop) gets its transcript first; Wyoming has no "reconnect" code. */
  drain(boundMs: number): void {
    if (this.draining) return;
    this.draining = setTimeout(() => void this.shutdown(), boundMs);
    this.draining.unref();
    if (!this.session.listening) void this.shutdown();
  }

  handleClose(): void {
    clearTimeout(this.draining);
    this.session.close();
  }

  private handle(event: WyomingEvent): void {
    const d = event.data;
    switch (event.type) {
      case 'describe':
        this.send('info', wyomingInfo(this.models()));
        return;
      case 'transcribe':
        if (typeof d.language === 'string') this.language = d.language;
        return;
      case 'audio-start': {
        const rate = d.rate;
        const width = d.width ?? 2;
        const channels = d.channels ?? 1;
        if (typeof rate !== 'number' || !Number.isInteger(rate) || rate < 8000 || rate > 192000 || width !== 2 || (channels !== 1 && channels !== 2)) {
          this.error('BAD_MESSAGE', 'audio-start needs rate 8000-192000, width 2 (16-bit) and 1 or 2 channels');
          return;
        }
        this.session.start({ sampleRate: rate, tag: { texts: [], streamed: false, sent: '', width, channels } });
        return;
      }
      case 'audio-chunk': {
        const stream = this.session.tag;
        if (!stream) {
          this.error('NOT_LISTENING', 'audio-chunk before audio-start');
          return;
        }
        const payload = event.payload ?? Buffer.alloc(0);
        this.session.appendAudio(stream.channels === 2 ? downmix(payload) : payload);
        return;
      }
      case 'audio-stop': {
        const stream = this.session.tag;
        if (!stream) {
          this.send('transcript', { text: '', language: this.language });
          return;
        }
        void this.session.stop().then(() => {
          if (stream.streamed) this.send('transcript-stop');
          this.send('transcript', { text: stream.texts.join(' '), language: this.language });
          if (this.draining) void this.shutdown();
        });
        return;
      }
      case 'ping':
        this.send('pong', typeof d.text === 'string' ? { text: d.text } : undefined);
        return;
      default:
        this.error('UNKNOWN_TYPE', `unknown event type ${JSON.stringify(event.type).slice(0, 80)}; this server answers describe, transcribe, audio-start, audio-chunk, audio-stop and ping`);
    }
  }

  private onEvent(event: SessionEvent, stream: Stream | undefined): void {
    if (!stream) {
      if (event.type === 'error') this.send('error', { text: event.message, code: event.code });
      return;
    }
    switch (event.type) {
      case 'stabilized': {
        if (!event.text.startsWith(stream.sent) || event.text.length === stream.sent.length) return;
        if (!stream.streamed) {
          stream.streamed = true;
          this.send('transcript-start', { language: this.language });
        }
        const space = stream.texts.length > 0 && stream.sent === '' ? ' ' : '';
        this.send('transcript-chunk', { text: space + event.text.slice(stream.sent.length) });
        stream.sent = event.text;
        return;
      }
      case 'final':
        if (event.text) stream.texts.push(event.text);
        stream.sent = '';
        return;
      case 'error':
        this.send('error', { text: event.message, code: event.code });
        return;
      default:
        return;
    }
  }

  private error(code: 'BAD_MESSAGE' | 'NOT_LISTENING' | 'UNKNOWN_TYPE', text: string): void {
    this.host.metrics.errors.inc({ code });
    this.send('error', { text, code });
  }

  private send(type: string, data?: Record<string, unknown>): void {
    if (!this.socket.destroyed && this.socket.writable) this.socket.write(encodeWyomingEvent(type, data));
  }
}

/** Interleaved stereo PCM16 → mono (the mean of the two channels). */
function downmix(stereo: Buffer): Buffer {
  const frames = Math.floor(stereo.length / 4);
  const mono = Buffer.allocUnsafe(frames * 2);
  for (let i = 0; i < frames; i++) mono.writeInt16LE((stereo.readInt16LE(i * 4) + stereo.readInt16LE(i * 4 + 2)) >> 1, i * 2);
  return mono;
}
