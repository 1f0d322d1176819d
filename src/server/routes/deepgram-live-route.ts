import { DeepgramLiveSession, parseDeepgramQuery, type DeepgramOptions } from '../protocols/deepgram-live.ts';
import { AUDIO_MAX_PAYLOAD, type WebSocketRoute } from './websocket-route.ts';

export const DEEPGRAM_LISTEN_PATH = '/v1/listen';

export const deepgramLiveRoute: WebSocketRoute = {
  path: DEEPGRAM_LISTEN_PATH,
  maxPayload: AUDIO_MAX_PAYLOAD,
  refuse: (url) => {
    const o = parseDeepgramQuery(url.searchParams);
    return 'error' in o ? o.error : undefined;
  },
  open: (ws, _req, url, host) => new DeepgramLiveSession(ws, host, parseDeepgramQuery(url.searchParams) as DeepgramOptions),
};
