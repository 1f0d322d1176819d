import fs from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { keytermsOfFile, parseKeyterm, type Keyterm } from '../asr/keyterms.ts';
import { parseArgs } from 'node:util';
import { CATALOG } from '../models/catalog.ts';
import type { ChatEndpoint } from './chat-completions.ts';
import { normalizeAddress } from './client-limits.ts';
import { DEFAULT_RECORDER_CONFIG, type RecorderConfig } from '../recorder/recorder-config.ts';
import { readRecorderSettings, RECORDER_SETTINGS } from './recorder-settings.ts';

/** Everything `earshot serve` can be told; flags beat environment variables, which beat the defaults. */
export interface ServerConfig {
  /** TCP port; 0 picks a free one. Flag --port, env EARSHOT_PORT, default 8000. */
  port: number;
  /** Interface to bind. Flag --host, env EARSHOT_HOST, default 127.0.0.1 (this machine only). */
  host: string;
  /** When set, required on the WebSocket upgrade and on /v1/* and /metrics. Env EARSHOT_TOKEN (flag --token). */
  token?: string;
  /** Listening sessions (WebSocket stt_start cycles and HTTP transcriptions) at once. Env EARSHOT_MAX_SESSIONS. */
  maxSessions: number;
  /** Open WebSocket connections at once (listening or not); beyond it upgrades get 503. Env EARSHOT_MAX_CONNECTIONS. */
  maxConnections: number;
  /** Listening sessions of one client address. Flag --max-sessions-per-client, env EARSHOT_MAX_SESSIONS_PER_CLIENT. */
  maxSessionsPerClient: number;
  /** Open connections of one client address; beyond it upgrades get 429. Env EARSHOT_MAX_CONNECTIONS_PER_CLIENT. */
  maxConnectionsPerClient: number;
  /**
   * TCP connections one peer address may hold open (WebSockets and HTTP keep-alive alike), checked on accept before
   * any HTTP is read; beyond it the connection gets a bare 429. Env EARSHOT_MAX_SOCKETS_PER_CLIENT, default twice
   * maxConnectionsPerClient. Trusted proxies are not limited here.
   */
  maxSocketsPerClient?: number;
  /**
   * New TCP connections per second one peer address may open once a burst of maxSocketsPerClient is spent (a token
   * bucket), checked on accept. Env EARSHOT_CONNECT_RATE_PER_CLIENT, default maxConnectionsPerClient.
   */
  connectRatePerClient?: number;
  /**
   * Peers whose X-Forwarded-For names the client (a reverse proxy on this host, say); any other peer is the client
   * itself. Flag --trusted-proxies, env EARSHOT_TRUSTED_PROXIES (comma-separated IP addresses), default none.
   */
  trustedProxies: string[];
  /** A connection that has not sent stt_start this long after opening (or after its last cycle) is closed. */
  startTimeoutMs: number;
  /** A listening session that receives no audio for this long is stopped (its final delivered). */
  audioIdleTimeoutMs: number;
  /** Uploads to /v1/audio/transcriptions decoded and transcribed at once. Env EARSHOT_UPLOAD_CONCURRENCY. */
  uploadConcurrency: number;
  /** Uploads waiting for their turn; beyond it the answer is 429 with Retry-After. Env EARSHOT_UPLOAD_QUEUE. */
  uploadQueue: number;
  /** Extra browser origins allowed besides same-origin and localhost ("*" allows any). Env EARSHOT_ALLOWED_ORIGINS. */
  allowedOrigins: string[];
  /** Model for finals. Env EARSHOT_MODEL. */
  model: string;
  /** Model for realtime partials. Env EARSHOT_REALTIME_MODEL. */
  realtimeModel: string;
  /**
   * Model that cross-checks finals while the final worker has time (src/asr/cross-check-engine.ts); null: none, which
   * saves the second model's memory in the final worker (~60 MB). Env EARSHOT_CHECK_MODEL ("none"); default: the
   * service's (moonshine-tiny for moonshine-base).
   */
  checkModel?: string | null;
  /** onnxruntime intra-op threads per inference worker. Env EARSHOT_THREADS, default 1. */
  threads: number;
  /** Inference jobs at once (worker threads). Env EARSHOT_PARALLELISM, default: CPU cores. */
  parallelism?: number;
  /** Deadline of one inference job. Env EARSHOT_TIMEOUT_MS, default 30000. */
  timeoutMs: number;
  /** Largest upload to /v1/audio/transcriptions. Env EARSHOT_MAX_UPLOAD_MB, default 25. */
  maxUploadBytes: number;
  /** Folder of the built web client. Env EARSHOT_WEB_ROOT, default web/dist of this checkout. */
  webRoot: string;
  /** WebSocket keep-alive: ping period; a peer that has not answered the previous ping by the next is dropped. */
  heartbeatMs: number;
  /** Socket send buffer above which stt_update / stt_stabilized are dropped for that client. */
  sendSoftLimitBytes: number;
  /** Socket send buffer above which the client is disconnected (1008): it is not reading. */
  sendHardLimitBytes: number;
  /**
   * OpenAI-compatible chat-completions endpoint that answers prompts (streamed back as assistant_delta/assistant_done).
   * Env EARSHOT_CHAT_URL (with EARSHOT_CHAT_MODEL, EARSHOT_CHAT_API_KEY); without it the chat is a transcript log.
   */
  chat?: ChatEndpoint;
  /**
   * Deepgram's pre-recorded POST /v1/listen may fetch `{"url": …}` sources (public addresses only, never loopback or
   * private ones). Env EARSHOT_ALLOW_URL_SOURCES=true; off by default: the server then fetches nothing on a client's word.
   */
  allowUrlSources?: boolean;
  /** Graceful shutdown deadline: sessions still open after it are cut. */
  shutdownMs: number;
  /** HTTPS and wss:// on the same port: PEM certificate chain and key. Flags --tls-cert/--tls-key, env EARSHOT_TLS_CERT/KEY. */
  tls?: { cert: Buffer; key: Buffer };
  /** Wyoming (Home Assistant) STT over TCP on this port, same host; off unless set. Flag --wyoming-port, env EARSHOT_WYOMING_PORT. */
  wyomingPort?: number;
  /** The operator's keyterms, added to every session's (docs/keyterms.md). Flag --keyterms-file, env EARSHOT_KEYTERMS_FILE: one a line. */
  keyterms?: Keyterm[];
  /**
   * SIGTERM drain: how long a session may take to reach its next natural final before its utterance is cut (a
   * real-time client's utterance ends by maxUtteranceSeconds, 25 s, plus the final's latency).
   */
  drainMs: number;
  /** The recorder settings of every session (recorder-settings.ts: the seed's parameters by flag and variable). */
  recorder: Partial<RecorderConfig>;
}

export const DEFAULT_WEB_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../web/dist');

export const DEFAULT_SERVER_CONFIG: Readonly<ServerConfig> = Object.freeze({
  port: 8000,
  host: '127.0.0.1',
  // Capacity: 48 real-time sessions is what one 2-core box serves with finals on time and none lost; connections
  // cost little until they listen, so 4 per session slot; one address gets a sixth of the sessions, so that at least
  // six clients always find room (docs/decisions/0018-admission-on-accept.md).
  maxSessions: 48,
  maxConnections: 192,
  maxSessionsPerClient: 8,
  maxConnectionsPerClient: 16,
  trustedProxies: [],
  startTimeoutMs: 10000,
  audioIdleTimeoutMs: 30000,
  // Uploads run faster than real time on the same two workers as live sessions: two at once keep a core's worth of
  // VAD and finals busy without starving live sessions; 8 more may wait (a 30 s clip takes about 1-6 s).
  uploadConcurrency: 2,
  uploadQueue: 8,
  allowedOrigins: [],
  model: DEFAULT_RECORDER_CONFIG.model,
  realtimeModel: DEFAULT_RECORDER_CONFIG.realtimeModel,
  threads: 1,
  timeoutMs: 30000,
  maxUploadBytes: 25 * 1024 * 1024,
  webRoot: DEFAULT_WEB_ROOT,
  heartbeatMs: 15000,
  sendSoftLimitBytes: 256 * 1024,
  sendHardLimitBytes: 4 * 1024 * 1024,
  shutdownMs: 4000,
  drainMs: 30000,
  recorder: {},
});

/** A bad setting: one line naming it; the CLI prints it and exits with 2. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Every environment variable `earshot serve` reads (EARSHOT_MODELS_DIR: the model store's, EARSHOT_LOG_LEVEL: the CLI's). */
export const SERVE_ENV_VARS: readonly string[] = [
  'EARSHOT_PORT', 'EARSHOT_HOST', 'EARSHOT_TOKEN', 'EARSHOT_MAX_SESSIONS', 'EARSHOT_MAX_CONNECTIONS', 'EARSHOT_MAX_SESSIONS_PER_CLIENT',
  'EARSHOT_MAX_CONNECTIONS_PER_CLIENT', 'EARSHOT_MAX_SOCKETS_PER_CLIENT', 'EARSHOT_CONNECT_RATE_PER_CLIENT', 'EARSHOT_TRUSTED_PROXIES',
  'EARSHOT_START_TIMEOUT_MS', 'EARSHOT_AUDIO_IDLE_TIMEOUT_MS', 'EARSHOT_UPLOAD_CONCURRENCY', 'EARSHOT_UPLOAD_QUEUE', 'EARSHOT_ALLOWED_ORIGINS',
  'EARSHOT_MODEL', 'EARSHOT_REALTIME_MODEL', 'EARSHOT_CHECK_MODEL', 'EARSHOT_THREADS', 'EARSHOT_PARALLELISM', 'EARSHOT_TIMEOUT_MS',
  'EARSHOT_MAX_UPLOAD_MB', 'EARSHOT_WEB_ROOT', 'EARSHOT_MODELS_DIR', 'EARSHOT_CHAT_URL', 'EARSHOT_CHAT_MODEL', 'EARSHOT_CHAT_API_KEY',
  'EARSHOT_ALLOW_URL_SOURCES',
  'EARSHOT_TLS_CERT', 'EARSHOT_TLS_KEY', 'EARSHOT_WYOMING_PORT', 'EARSHOT_KEYTERMS_FILE', 'EARSHOT_DRAIN_SECONDS', 'EARSHOT_LOG_LEVEL',
  ...RECORDER_SETTINGS.map((r) => r.env),
];

/** Every `earshot serve` flag (all take a value). */
export const SERVE_FLAGS = Object.fromEntries(
  [
    'port', 'host', 'token', 'max-sessions', 'max-sessions-per-client', 'max-connections-per-client', 'trusted-proxies', 'allowed-origins',
    'model', 'realtime-model', 'check-model', 'threads', 'parallelism', 'web-root', 'tls-cert', 'tls-key', 'wyoming-port', 'keyterms-file',
    ...RECORDER_SETTINGS.map((r) => r.flag),
  ].map((flag) => [flag, { type: 'string' as const }]),
);

export const SERVE_USAGE = `usage: earshot serve [--port 8000] [--host 127.0.0.1] [--token SECRET] [--max-sessions 48]
                     [--max-sessions-per-client 8] [--max-connections-per-client 16] [--trusted-proxies IP,IP]
                     [--allowed-origins URL,URL] [--model moonshine-base] [--realtime-model moonshine-tiny]
                     [--check-model moonshine-tiny|none] [--threads 1] [--parallelism N] [--web-root DIR] [--tls-cert FILE --tls-key FILE]
                     [--wyoming-port 10300] [--keyterms-file FILE]
recorder:            ${wrap(RECORDER_SETTINGS.map((r) => `[--${r.flag} ${r.kind === 'boolean' ? 'true|false' : 'N'}]`), 21)}
environment: ${wrap(SERVE_ENV_VARS, 13)}
every setting, its default and its seed name: docs/configuration.md`;

/** Words joined into lines of at most 120 characters, continuation lines indented. */
function wrap(words: readonly string[], indent: number): string {
  const lines = [''];
  for (const w of words) {
    if (lines.at(-1)!.length + w.length + indent > 119 && lines.at(-1)) lines.push('');
    lines[lines.length - 1] += `${lines.at(-1) ? ' ' : ''}${w}`;
  }
  return lines.join(`\n${' '.repeat(indent)}`);
}

/** Reads `earshot serve` flags and the environment; throws ConfigError with a one-line message. */
export function resolveServerConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): ServerConfig {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      allowPositionals: false,
      strict: true,
      options: SERVE_FLAGS,
    }));
  } catch (e) {
    throw new ConfigError(`${(e as Error).message.split('\n')[0]}\n${SERVE_USAGE}`);
  }
  const pick = (flag: string, envName: string): { value: string; name: string } | undefined => {
    const fromFlag = values[flag];
    if (typeof fromFlag === 'string') return { value: fromFlag, name: `--${flag}` };
    const fromEnv = env[envName];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, name: envName };
    return undefined;
  };
  const int = (flag: string, envName: string, min: number, max: number, fallback: number, range = `${min}-${max}`): number => {
    const got = pick(flag, envName);
    if (!got) return fallback;
    const n = Number(got.value.trim());
    if (!/^\s*\d+\s*$/.test(got.value) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new ConfigError(`${got.name} must be ${range} (got "${got.value}")`);
    }
    return n;
  };
  const d = DEFAULT_SERVER_CONFIG;
  const asr = CATALOG.filter((m) => m.role === 'asr').map((m) => m.name);
  const modelName = (flag: string, envName: string, fallback: string): string => {
    const got = pick(flag, envName);
    if (!got) return fallback;
    if (!asr.includes(got.value)) throw new ConfigError(`${got.name} must be one of ${asr.join(', ')} (got "${got.value}")`);
    return got.value;
  };

  const port = int('port', 'EARSHOT_PORT', 0, 65535, d.port, '1-65535 (or 0 for any free port)');
  const host = pick('host', 'EARSHOT_HOST')?.value.trim() ?? d.host;
  if (!host || /\s|\//.test(host)) throw new ConfigError(`--host must be a host name or IP address (got "${host}")`);
  const token = pick('token', 'EARSHOT_TOKEN')?.value;
  if (token !== undefined && token.length < 8) throw new ConfigError('EARSHOT_TOKEN must be at least 8 characters');
  const origins = pick('allowed-origins', 'EARSHOT_ALLOWED_ORIGINS');
  const allowedOrigins = origins ? origins.value.split(',').map((o) => o.trim()).filter(Boolean).map((o) => normalizeOrigin(o, origins.name)) : [];
  const proxies = pick('trusted-proxies', 'EARSHOT_TRUSTED_PROXIES');
  const trustedProxies = proxies ? proxies.value.split(',').map((p) => p.trim()).filter(Boolean).map((p) => normalizeProxy(p, proxies.name)) : [];
  const webRoot = pick('web-root', 'EARSHOT_WEB_ROOT')?.value;
  const parallelism = pick('parallelism', 'EARSHOT_PARALLELISM') ? int('parallelism', 'EARSHOT_PARALLELISM', 1, 64, 1) : undefined;
  const chatUrl = env.EARSHOT_CHAT_URL?.trim();
  if (chatUrl && !/^https?:\/\/[^\s]+$/.test(chatUrl)) throw new ConfigError(`EARSHOT_CHAT_URL must be an http(s) URL (got "${chatUrl}")`);
  const chat = chatUrl ? { url: chatUrl, model: env.EARSHOT_CHAT_MODEL?.trim() || 'default', apiKey: env.EARSHOT_CHAT_API_KEY || undefined } : undefined;

  const tlsCert = pick('tls-cert', 'EARSHOT_TLS_CERT');
  const tlsKey = pick('tls-key', 'EARSHOT_TLS_KEY');
  if (Boolean(tlsCert) !== Boolean(tlsKey)) throw new ConfigError('--tls-cert and --tls-key go together (PEM files)');
  const tls = tlsCert && tlsKey ? { cert: readPem(tlsCert), key: readPem(tlsKey) } : undefined;
  const check = pick('check-model', 'EARSHOT_CHECK_MODEL');
  const checkModel = !check ? undefined : check.value === 'none' ? null : modelName('check-model', 'EARSHOT_CHECK_MODEL', '');
  const keytermsFile = pick('keyterms-file', 'EARSHOT_KEYTERMS_FILE');
  const wyomingPort = pick('wyoming-port', 'EARSHOT_WYOMING_PORT') ? int('wyoming-port', 'EARSHOT_WYOMING_PORT', 0, 65535, 0) : undefined;

  return {
    ...d,
    port,
    tls,
    wyomingPort,
    keyterms: keytermsFile ? readKeyterms(keytermsFile) : undefined,
    host,
    token,
    maxSessions: int('max-sessions', 'EARSHOT_MAX_SESSIONS', 1, 10000, d.maxSessions),
    maxConnections: int('__none', 'EARSHOT_MAX_CONNECTIONS', 1, 100000, d.maxConnections),
    maxSessionsPerClient: int('max-sessions-per-client', 'EARSHOT_MAX_SESSIONS_PER_CLIENT', 1, 10000, d.maxSessionsPerClient),
    maxConnectionsPerClient: int('max-connections-per-client', 'EARSHOT_MAX_CONNECTIONS_PER_CLIENT', 1, 100000, d.maxConnectionsPerClient),
    maxSocketsPerClient: pick('__none', 'EARSHOT_MAX_SOCKETS_PER_CLIENT') ? int('__none', 'EARSHOT_MAX_SOCKETS_PER_CLIENT', 1, 100000, 0) : undefined,
    connectRatePerClient: pick('__none', 'EARSHOT_CONNECT_RATE_PER_CLIENT') ? int('__none', 'EARSHOT_CONNECT_RATE_PER_CLIENT', 1, 100000, 0) : undefined,
    trustedProxies,
    startTimeoutMs: int('__none', 'EARSHOT_START_TIMEOUT_MS', 100, 3600000, d.startTimeoutMs),
    audioIdleTimeoutMs: int('__none', 'EARSHOT_AUDIO_IDLE_TIMEOUT_MS', 100, 3600000, d.audioIdleTimeoutMs),
    uploadConcurrency: int('__none', 'EARSHOT_UPLOAD_CONCURRENCY', 1, 64, d.uploadConcurrency),
    uploadQueue: int('__none', 'EARSHOT_UPLOAD_QUEUE', 0, 10000, d.uploadQueue),
    allowedOrigins,
    model: modelName('model', 'EARSHOT_MODEL', d.model),
    realtimeModel: modelName('realtime-model', 'EARSHOT_REALTIME_MODEL', d.realtimeModel),
    checkModel,
    threads: int('threads', 'EARSHOT_THREADS', 1, 64, d.threads),
    parallelism,
    timeoutMs: int('__none', 'EARSHOT_TIMEOUT_MS', 100, 600000, d.timeoutMs),
    maxUploadBytes: int('__none', 'EARSHOT_MAX_UPLOAD_MB', 1, 2048, d.maxUploadBytes / 1024 / 1024) * 1024 * 1024,
    webRoot: webRoot ? path.resolve(webRoot) : d.webRoot,
    chat,
    allowUrlSources: /^(true|1|yes)$/i.test(env.EARSHOT_ALLOW_URL_SOURCES?.trim() ?? ''),
    drainMs: int('__none', 'EARSHOT_DRAIN_SECONDS', 0, 3600, d.drainMs / 1000) * 1000,
    recorder: readRecorderSettings(pick, (message) => new ConfigError(message)),
  };
}

/** A trusted proxy is named by its IP address (as the socket reports it; IPv4-mapped IPv6 is read as IPv4). */
function normalizeProxy(address: string, name: string): string {
  const a = normalizeAddress(address);
  if (!isIP(a)) throw new ConfigError(`${name} must be a comma-separated list of IP addresses (got "${address}")`);
  return a;
}

/** The operator's list: each term checked as a client's is, none counted against a client's limits. */
function readKeyterms(got: { value: string; name: string }): Keyterm[] {
  let text: string;
  try {
    text = fs.readFileSync(got.value, 'utf8');
  } catch (e) {
    throw new ConfigError(`${got.name}: cannot read ${got.value} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return keytermsOfFile(text).map(parseKeyterm);
  } catch (e) {
    throw new ConfigError(`${got.name}: ${(e as Error).message}`);
  }
}

function readPem(got: { value: string; name: string }): Buffer {
  try {
    return fs.readFileSync(got.value);
  } catch (e) {
    throw new ConfigError(`${got.name}: cannot read ${got.value} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** "https://Example.com:443/" → "https://example.com"; "*" stays. */
function normalizeOrigin(origin: string, name: string): string {
  if (origin === '*') return origin;
  try {
    const url = new URL(origin);
    if (url.origin === 'null') throw new Error('opaque');
    return url.origin;
  } catch {
    throw new ConfigError(`${name} must be a comma-separated list of origins such as https://example.com (got "${origin}")`);
  }
}
