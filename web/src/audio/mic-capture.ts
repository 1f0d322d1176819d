/**
 * Microphone capture: getUserMedia → MediaStreamSource → "pcm-capture" AudioWorklet → PCM16 frames.
 *
 * The AudioContext is asked for `sampleRate` (16 kHz); a browser that refuses, or that cannot feed the microphone
 * into a context at that rate, gets a context at its native rate instead, and `sampleRate` reports what is really
 * produced (the caller declares it to the server in stt_start). stop() flushes the last partial frame, then
 * releases the tracks, the nodes and the context.
 */
import type { AudioConstraintsConfig } from '../config.ts';
import { PROCESSOR_NAME, type PcmCaptureOptions, type PcmFrameMessage } from './pcm-frame.ts';
import workletUrl from './pcm-worklet.ts?worker&url';

export type MicErrorCode = 'MIC_ACCESS_DENIED' | 'MIC_NOT_FOUND' | 'MIC_BUSY' | 'MIC_UNSUPPORTED' | 'MIC_ERROR';

export class MicError extends Error {
  readonly code: MicErrorCode;

  constructor(code: MicErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MicError';
    this.code = code;
  }
}

export interface MicCaptureOptions {
  sampleRate: number;
  channels: number;
  /** Samples per frame at `sampleRate`; scaled to the context's real rate. */
  bufferSize: number;
  audioConstraints: AudioConstraintsConfig;
}

export interface MicFrame {
  pcm: ArrayBuffer;
  rms: number;
  peak: number;
}

export interface MicCaptureEvents {
  /** One PCM16 frame (also the flushed partial frame on stop, if not empty). */
  frame?: (frame: MicFrame) => void;
  /** The track ended on its own (device unplugged, permission revoked). */
  ended?: () => void;
}

const FLUSH_TIMEOUT_MS = 300;

function micErrorFrom(e: unknown): MicError {
  const name = (e as { name?: string } | null)?.name ?? '';
  const detail = e instanceof Error ? e.message : String(e);
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return new MicError('MIC_ACCESS_DENIED', `Microphone access denied (${detail})`, { cause: e });
    case 'NotFoundError':
    case 'DevicesNotFoundError':
    case 'OverconstrainedError':
      return new MicError('MIC_NOT_FOUND', `No microphone found (${detail})`, { cause: e });
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return new MicError('MIC_BUSY', `The microphone could not be started (${detail})`, { cause: e });
    default:
      return new MicError('MIC_ERROR', `Audio capture failed: ${detail}`, { cause: e });
  }
}

export class MicCapture {
  private stream: MediaStream | null = null;
  private context: AudioContext | null = null;
  private source: MediaStreamAudioSourceNode | null = null;
  private node: AudioWorkletNode | null = null;
  private pendingFlush: (() => void) | null = null;
  private events: MicCaptureEvents = {};
  /** Kept after stop() so that callers can check the release (tracks 'ended', context 'closed'). */
  private lastTracks: MediaStreamTrack[] = [];
  private lastContext: AudioContext | null = null;

  constructor(private readonly options: MicCaptureOptions) {}

  /** True between a successful start() and stop(). */
  get active(): boolean {
    return this.node !== null;
  }

  /** The rate of the frames produced (the AudioContext's rate), or 0 when stopped. */
  get sampleRate(): number {
    return this.context?.sampleRate ?? 0;
  }

  /** readyState of the tracks of the last stream ('ended' after stop()). */
  trackStates(): MediaStreamTrackState[] {
    return this.lastTracks.map((t) => t.readyState);
  }

  get contextState(): AudioContextState | 'none' {
    return this.lastContext?.state ?? 'none';
  }

  on(events: MicCaptureEvents): void {
    this.events = events;
  }

  /** Opens the microphone and starts producing frames; resolves with the frame rate. Throws MicError. */
  async start(): Promise<number> {
    if (this.active) return this.sampleRate;
    const { sampleRate, channels, audioConstraints } = this.options;
    if (!globalThis.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      throw new MicError('MIC_UNSUPPORTED', 'This page cannot use the microphone (it needs https or localhost).');
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { ...audioConstraints, channelCount: { ideal: channels }, sampleRate: { ideal: sampleRate } },
        video: false,
      });
    } catch (e) {
      throw micErrorFrom(e);
    }
    this.lastTracks = this.stream.getAudioTracks();
    try {
      await this.buildGraph(this.stream);
    } catch (e) {
      await this.release();
      throw e instanceof MicError ? e : micErrorFrom(e);
    }
    for (const track of this.lastTracks) {
      track.addEventListener('ended', () => {
        if (this.stream && this.lastTracks.includes(track)) this.events.ended?.();
      });
    }
    return this.sampleRate;
  }

  /** Stops capture: the partial frame is delivered first, then everything is released. */
  async stop(): Promise<void> {
    const node = this.node;
    if (node) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, FLUSH_TIMEOUT_MS);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.pendingFlush = done;
        node.port.postMessage({ type: 'flush' });
      });
      this.pendingFlush = null;
    }
    await this.release();
  }

  private async buildGraph(stream: MediaStream): Promise<void> {
    const { sampleRate } = this.options;
    let context = this.createContext(sampleRate);
    let source: MediaStreamAudioSourceNode;
    try {
      source = context.createMediaStreamSource(stream);
    } catch (e) {
      // Some browsers (Firefox) cannot connect a microphone to a context at another rate: use the native rate.
      if (context.sampleRate === sampleRate) {
        void context.close();
        context = this.createContext(null);
        source = context.createMediaStreamSource(stream);
      } else {
        throw e;
      }
    }
    this.context = this.lastContext = context;
    this.source = source;
    await context.audioWorklet.addModule(workletUrl);
    const frameSamples = Math.max(128, Math.round((this.options.bufferSize * context.sampleRate) / sampleRate));
    const processorOptions: PcmCaptureOptions = { frameSamples };
    const node = new AudioWorkletNode(context, PROCESSOR_NAME, {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      processorOptions,
    });
    node.port.onmessage = (event: MessageEvent<PcmFrameMessage>) => {
      const m = event.data;
      if (m.type !== 'audio') return;
      if (m.pcm.byteLength > 0) this.events.frame?.({ pcm: m.pcm, rms: m.rms, peak: m.peak });
      if (m.flush) this.pendingFlush?.();
    };
    source.connect(node);
    this.node = node;
    if (context.state !== 'running') await context.resume();
  }

  private createContext(sampleRate: number | null): AudioContext {
    if (sampleRate !== null) {
      try {
        return new AudioContext({ sampleRate, latencyHint: 'interactive' });
      } catch {
        // The browser refuses this rate: fall through to its native rate.
      }
    }
    return new AudioContext({ latencyHint: 'interactive' });
  }

  private async release(): Promise<void> {
    const { node, source, stream, context } = this;
    this.node = null;
    this.source = null;
    this.stream = null;
    this.context = null;
    if (node) {
      node.port.onmessage = null;
      node.disconnect();
    }
    source?.disconnect();
    stream?.getTracks().forEach((t) => t.stop());
    if (context && context.state !== 'closed') {
      try {
        await context.close();
      } catch {
        // closing twice is harmless
      }
    }
  }
}
