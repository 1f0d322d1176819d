/**
 * Where the SDK's components connect: the Earshot server that served this module (its /ws/stream) unless told
 * otherwise, with a token that can be fetched fresh from the host app for every session.
 */
import { EarshotClient } from '../../../src/client/earshot-client.ts';
import { STT_CONFIG } from '../config.ts';

/** A token, or a function that gets one (e.g. from the host app's server, which signs it with `earshot token`'s scheme). */
export type TokenSource = string | (() => string | Promise<string>);

export interface ConnectionOptions {
  /** ws(s):// URL of /ws/stream, or an http(s) origin/URL of the Earshot server. Default: the server of this module. */
  server?: string;
  token?: TokenSource;
  /** Words to bias recognition toward: names, jargon ("word:2" weighs one double; docs/keyterms.md). */
  keyterms?: string[];
}

/** The module's own origin; `undefined` when bundled into an app that is not served by Earshot. */
function moduleOrigin(): string | undefined {
  try {
    const url = new URL(import.meta.url);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined;
  } catch {
    return undefined;
  }
}

/** The WebSocket URL for `server` (see ConnectionOptions.server). */
export function streamUrl(server: string | undefined): string {
  const base = server ?? moduleOrigin() ?? location.origin;
  const url = new URL(base, location.href);
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (url.pathname === '/' || url.pathname === '') url.pathname = '/ws/stream';
  }
  return url.href;
}

/** A reconnecting client for one dictation session (it resends unanswered audio after a reconnect). */
export async function openClient(options: ConnectionOptions): Promise<EarshotClient> {
  const token = typeof options.token === 'function' ? await options.token() : options.token;
  const client = new EarshotClient({ url: streamUrl(options.server), token, reconnect: STT_CONFIG.reconnect, keyterms: options.keyterms });
  void client.connect().catch(() => {});
  return client;
}
