import type { Keyterm } from '../asr/keyterms.ts';
import type { TranscriptionService } from '../pipeline/transcription-service.ts';
import type { ErrorCode } from '../protocol/seed-messages.ts';
import type { RecorderConfig } from '../recorder/recorder-config.ts';
import type { Logger } from './logger.ts';
import type { ServerMetrics } from './metrics.ts';

/** What the core needs of the connection under an adapter. */
export interface SessionTransport {
  /** Bytes queued to the peer, not yet sent. */
  readonly bufferedAmount: number;
  /** Stop/restart reading (TCP backpressure on a client that sends audio faster than it is processed). */
  pause?(): void;
  resume?(): void;
  /** The peer does not read what it is sent: close the connection. */
  cut(reason: string): void;
  /**
   * Closes a connection that sent no start within the host's startTimeoutMs (the seed's 4408). A transport with it
   * also gets cycles that receive no audio for audioIdleTimeoutMs stopped; one without gets neither timeout.
   */
  closeIdle?(reason: string): void;
}

/** Why a start got no session slot. */
export interface SlotRefusal {
  code: Extract<ErrorCode, 'OVERLOADED' | 'CLIENT_LIMIT'>;
  message: string;
}

/** What a live session and a REST upload both take from their server: a slot, metrics, logs, recorder settings. */
export interface PipelineHost {
  /** Takes one of the server's session slots for this client; the refusal when none is left. */
  acquireSlot(): SlotRefusal | undefined;
  releaseSlot(): void;
  readonly metrics: ServerMetrics;
  readonly log: Logger;
  readonly recorderConfig?: Partial<RecorderConfig>;
  /** The operator's keyterms (EARSHOT_KEYTERMS_FILE), added to every session's and upload's. */
  readonly keyterms?: Keyterm[];
}

/** What a session needs from its server. */
export interface SessionHost extends PipelineHost {
  /** The shared models; rejects when they failed to load. */
  service(): Promise<TranscriptionService>;
  /** A connection that is not listening is closed this long after its last cycle ended (or it opened). */
  readonly startTimeoutMs: number;
  /** A listening cycle that receives no audio for this long is stopped. */
  readonly audioIdleTimeoutMs: number;
  readonly shuttingDown: boolean;
  readonly sendSoftLimitBytes: number;
  readonly sendHardLimitBytes: number;
}
