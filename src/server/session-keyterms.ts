import type { BiasPhrase } from '../asr/context-graph.ts';
import { compileKeyterms, KeytermError, type Keyterm } from '../asr/keyterms.ts';
import type { Cycle } from './session-cycle.ts';
import type { SessionHost } from './session-host.ts';

/**
 * A session's keyterms (the client's, parsed) compiled with the operator's; undefined, after `refuse` got the
 * message naming the term (BAD_KEYTERMS), when they cannot be. `count`: a session given keyterms by its client, for
 * /metrics.
 */
export async function sessionKeyterms(
  keyterms: Keyterm[] = [],
  host: Pick<SessionHost, 'keyterms' | 'metrics'>,
  refuse: (message: string) => void,
  count = true,
): Promise<BiasPhrase[] | undefined> {
  try {
    const compiled = await compileKeyterms(keyterms, host.keyterms);
    if (count && keyterms.length) host.metrics.keytermSessions.inc();
    return compiled;
  } catch (e) {
    if (!(e instanceof KeytermError)) throw e;
    refuse(e.message);
    return undefined;
  }
}

/**
 * A listening cycle's new keyterms; a list that cannot be compiled is refused (BAD_KEYTERMS) and the previous one
 * kept. Whether they were taken.
 */
export async function updateKeyterms<Tag>(
  cycle: Cycle<Tag> | undefined,
  keyterms: Keyterm[],
  host: Pick<SessionHost, 'keyterms' | 'metrics'>,
  refuse: (message: string, tag: Tag | undefined) => void,
): Promise<boolean> {
  const compiled = await sessionKeyterms(keyterms, host, (m) => refuse(m, cycle?.tag), !!cycle && !cycle.keyterms?.length);
  if (!compiled) return false;
  if (cycle) {
    cycle.keyterms = keyterms;
    cycle.recorder?.setKeyterms(compiled);
  }
  return true;
}
