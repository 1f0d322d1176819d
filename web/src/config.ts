/**
 * Client configuration: the seed's STT_CONFIG (seed-plan 5.2) with the same names, plus the few settings the
 * seed left implicit (WebSocket path, reconnect backoff, frame length). Every field is used somewhere:
 *
 * - sampleRate       preferred AudioContext rate; if the browser refuses it, the native rate is used and declared
 *                    to the server with `sample_rate` in stt_start (the server resamples).
 * - channels         requested channelCount; the worklet always downmixes to mono (the protocol is mono).
 * - bufferSize       samples per binary frame at `sampleRate` (scaled for other rates so a frame keeps its
 *                    duration). The seed's 4096 (256 ms) is lowered to 1024 (64 ms) for a livelier preview.
 * - audioConstraints passed to getUserMedia.
 * - ui.showRealtimePreview  show the live preview bubble (stt_update / stt_stabilized) at all.
 * - ui.showStabilizedOnly   show only stabilized text in the preview, never the unstable tail.
 * - ui.autoSendOnFinal      send each final to the server as a `prompt` message.
 *
 * Any key can be overridden from the page's query string, e.g. `?showStabilizedOnly=1&autoSendOnFinal=0`
 * or `?ws=ws://host:8000/ws/stream` (handy with the Vite dev server), or `?token=SECRET` for a server started with
 * EARSHOT_TOKEN.
 *
 * This module is DOM-free so that node tests can import it.
 */
import type { ReconnectOptions } from '../../src/client/earshot-client.ts';

export interface AudioConstraintsConfig {
  echoCancellation: boolean;
  noiseSuppression: boolean;
  autoGainControl: boolean;
}

export interface UiConfig {
  showRealtimePreview: boolean;
  showStabilizedOnly: boolean;
  autoSendOnFinal: boolean;
}

export interface SttConfig {
  sampleRate: number;
  channels: number;
  bufferSize: number;
  audioConstraints: AudioConstraintsConfig;
  ui: UiConfig;
  /** Full ws:// URL, or a path resolved against the page's origin. */
  wsUrl: string;
  /** Access token (EARSHOT_TOKEN or a signed short-lived one) from the page's `?token=`; sent as a WebSocket subprotocol. */
  token?: string;
  reconnect: ReconnectOptions;
}

export const STT_CONFIG: SttConfig = {
  sampleRate: 16000,
  channels: 1,
  bufferSize: 1024,
  audioConstraints: {
    echoCancellation: true,
    noiseSuppression: true,
    autoGainControl: true,
  },
  ui: {
    showRealtimePreview: true,
    showStabilizedOnly: false,
    autoSendOnFinal: true,
  },
  wsUrl: '/ws/stream',
  reconnect: { initialDelayMs: 250, maxDelayMs: 5000 },
};

function parseBool(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on', ''].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  return undefined;
}

function parsePositiveInt(value: string): number | undefined {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** The defaults with overrides from a query string (`location.search`); unknown or malformed keys are ignored. */
export function loadConfig(search = '', base: SttConfig = STT_CONFIG): SttConfig {
  const config: SttConfig = {
    ...base,
    audioConstraints: { ...base.audioConstraints },
    ui: { ...base.ui },
    reconnect: { ...base.reconnect },
  };
  const params = new URLSearchParams(search);
  for (const [key, raw] of params) {
    if (key in config.ui) {
      const b = parseBool(raw);
      if (b !== undefined) config.ui[key as keyof UiConfig] = b;
    } else if (key in config.audioConstraints) {
      const b = parseBool(raw);
      if (b !== undefined) config.audioConstraints[key as keyof AudioConstraintsConfig] = b;
    } else if (key === 'sampleRate' || key === 'bufferSize' || key === 'channels') {
      const n = parsePositiveInt(raw);
      if (n !== undefined) config[key] = n;
    } else if (key === 'ws' && raw) {
      config.wsUrl = raw;
    } else if (key === 'token' && raw) {
      config.token = raw;
    }
  }
  return config;
}

/** Absolute WebSocket URL for `wsUrl` as seen from a page at `pageUrl` (http → ws, https → wss). */
export function resolveWsUrl(wsUrl: string, pageUrl: string): string {
  const url = new URL(wsUrl, pageUrl);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  return url.href;
}
