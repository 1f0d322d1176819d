import type { SocketFactory } from './socket-transport.ts';
import type { ReconnectOptions } from './session-resume.ts';

export interface ClientOptions {
  /** ws:// or wss:// URL of /ws/stream. */
  url: string;
  /**
   * Server token (EARSHOT_TOKEN) or a short-lived signed token (`npx earshot token`). Node sends it as
   * `Authorization: Bearer`; browsers, which cannot set headers, as the subprotocol `token.<t>` beside `earshot`.
   */
  token?: string;
  /** Node only: sent as the Origin header (browsers always send their own). */
  origin?: string;
  /** Node only: extra handshake headers. */
  headers?: Record<string, string>;
  /** Node only: local address to connect from (e.g. 127.0.0.2, to be another client of a server on loopback). */
  localAddress?: string;
  /** Reconnect after a lost connection (default on); false: a lost connection closes the client. */
  reconnect?: false | Partial<ReconnectOptions>;
  /** Abandon a connection attempt after this long (default 10 000 ms). */
  timeoutMs?: number;
  /** Ping every this many ms while connected (default 15 000 with reconnect, else 0 = never). */
  pingIntervalMs?: number;
  /** A connection that has heard nothing (not even a pong) for this long is dropped and reopened (default 45 000). */
  deadAfterMs?: number;
  /** Audio kept for a resend after a reconnect, in seconds (default 60; 0 = none, frames are dropped while offline). */
  resendSeconds?: number;
  /** Without resend: audio frames are dropped while more than this many bytes wait to be sent. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Jitter source in [0, 1); tests pass () => 0.5 for exact delays. */
  random?: () => number;
  /** Makes the socket (default: the browser's WebSocket, or `ws` in Node). */
  createSocket?: SocketFactory;
  /**
   * Words to bias recognition toward (names, jargon; "word:2" weighs one double): sent with every stt_start, so a
   * session resumed after a reconnect keeps them. At most 100 terms of 50 characters (docs/keyterms.md).
   */
  keyterms?: string[];
}

export interface StreamOptions {
  /** Rate of `samples` (default: the rate given to start(), else 16000). */
  sampleRate?: number;
  /** Frame length in ms (default 100). */
  chunkMs?: number;
  /** Pace frames at real time (default true); false sends as fast as the socket takes them. */
  realtime?: boolean;
  /** With realtime: play this many times faster than real time (default 1). */
  speed?: number;
  signal?: AbortSignal;
}
