/**
 * One dictation session that outlives its connections, as one object: an EarshotClient with reconnect and resend on,
 * connected and started. When the connection goes (the instance drains and closes with 1012, is killed, or the
 * network drops), the client reconnects — through a balancer, to another instance — sends stt_start with the same
 * session_id and the audio not yet answered by a final, and goes on; finals are reported once each, with their span
 * on the client's own stream.
 *
 *   const s = await ReconnectingSession.open('ws://balancer/ws/stream');
 *   s.on('final', (f) => console.log(f.streamStart, f.text));
 *   await s.streamPcm(samples);
 *   await s.stop();       // the last final, across reconnects
 *   await s.close();
 */
import { EarshotClient, type ClientOptions, type Reconnect, type SessionFinal, type StreamOptions } from './earshot-client.ts';
import type { ServerMessage } from '../protocol/seed-messages.ts';

export type { Reconnect } from './earshot-client.ts';

export interface ReconnectingOptions extends Pick<ClientOptions, 'token' | 'origin' | 'headers' | 'timeoutMs'> {
  sessionId?: string;
  /** Rate of the PCM16 audio sent (default 16000). */
  sampleRate?: number;
  /** Audio kept for a resend, seconds (default 60). */
  maxUnansweredSeconds?: number;
  /** Reconnect delays: from initialDelayMs (default 50) doubling up to maxDelayMs (default 2000). */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
}

interface Events {
  final: SessionFinal & { streamStart: number; streamEnd: number };
  reconnect: Reconnect;
  message: ServerMessage;
}

export class ReconnectingSession {
  private constructor(
    readonly client: EarshotClient,
    readonly sessionId: string,
  ) {}

  /** Connects and starts the session (a refused or lost attempt is retried like a reconnect). */
  static async open(url: string, options: ReconnectingOptions = {}): Promise<ReconnectingSession> {
    const { sessionId, sampleRate = 16000, maxUnansweredSeconds = 60, reconnect, ...connect } = options;
    const client = new EarshotClient({
      ...connect,
      url,
      resendSeconds: maxUnansweredSeconds,
      reconnect: { initialDelayMs: 50, maxDelayMs: 2000, ...reconnect },
    });
    await client.connect();
    return new ReconnectingSession(client, await client.start(sessionId, { sampleRate, timeoutMs: 30_000 }));
  }

  get reconnects(): readonly Reconnect[] {
    return this.client.reconnects;
  }

  /** Finals ignored because their audio had already been answered. */
  get duplicates(): number {
    return this.client.duplicates;
  }

  on<E extends keyof Events>(event: E, listener: (e: Events[E]) => void): () => void {
    return this.client.on(event, listener as never);
  }

  /** One PCM16 frame: sent now when connected, and kept until a final answers it. */
  sendAudio(pcm16: Uint8Array): void {
    this.client.sendAudio(pcm16);
  }

  streamPcm(samples: Float32Array, options: StreamOptions = {}): Promise<void> {
    return this.client.streamPcm(samples, options);
  }

  /** stt_stop; resolves after the last final, on stt_state idle, on whichever connection gets there. */
  stop(timeoutMs = 60000): Promise<void> {
    return this.client.stop(timeoutMs);
  }

  /** Closes for good (no reconnect). */
  async close(): Promise<void> {
    await this.client.close();
  }
}
