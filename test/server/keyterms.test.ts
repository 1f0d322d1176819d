import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { EarshotClient } from '../../src/client/earshot-client.ts';
import type { ServerMessage } from '../../src/protocol/seed-messages.ts';
import { resolveServerConfig } from '../../src/server/config.ts';
import { clip, clipSamples, concat, finals, metricValue, serverForSuite, silence, transcribeOver } from './helpers.ts';

type ErrorMsg = Extract<ServerMessage, { type: 'stt_error' }>;

/** cards-002.wav: moonshine-base writes "Four queen of gloves" (or "cloves"); the speaker says "clubs". */
const CARDS = concat(silence(0.3), clipSamples(clip('cards-002.wav')), silence(0.3));
const textOf = (log: ServerMessage[]) => finals(log).map((f) => f.text).join(' ');

describe('keyterms on the seed protocol (real server, real models, real speech)', () => {
  const t = serverForSuite();

  it('stt_start.keyterms: the word the model misreads comes out right, and not without; /metrics counts them', async () => {
    const sessions = (await metricValue(t.http, 'earshot_keyterm_sessions_total')) ?? 0;
    const matches = (await metricValue(t.http, 'earshot_keyterm_matches_total')) ?? 0;
    const plain = await EarshotClient.connect(t.ws);
    assert.doesNotMatch(textOf((await transcribeOver(plain, CARDS)).log), /clubs/i);
    await plain.close();
    const biased = await EarshotClient.connect(t.ws, { keyterms: ['clubs', 'Dashwood'] });
    assert.match(textOf((await transcribeOver(biased, CARDS)).log), /queen of clubs/i);
    await biased.close();
    assert.equal(await metricValue(t.http, 'earshot_keyterm_sessions_total'), sessions + 1);
    assert.equal(await metricValue(t.http, 'earshot_keyterm_matches_total'), matches + 1);
  });

  it('beyond the limits, or unencodable: stt_error BAD_KEYTERMS naming the term, no session, and the connection goes on', async () => {
    const client = await EarshotClient.connect(t.ws);
    const refused = async (keyterms: unknown, message: RegExp) => {
      const error = client.next('error', (m: ErrorMsg) => m.code === 'BAD_KEYTERMS', 10000);
      client.sendJson({ type: 'stt_start', session_id: 'bad', keyterms });
      const m = await error;
      assert.equal(m.session_id, 'bad');
      assert.match(m.error, message);
    };
    await refused(Array.from({ length: 101 }, (_, i) => `term${i}`), /101 keyterms: at most 100/);
    await refused(['clubs', 'x'.repeat(51)], new RegExp(`"${'x'.repeat(51)}" is longer than 50 characters`));
    await refused(['clubs', 'smile 😀'], /"smile 😀" cannot be encoded/);
    await refused(Array.from({ length: 45 }, (_, i) => `Przybylski Okonkwo Raghunathan ${i}`), /pass 500 tokens at "Przybylski Okonkwo Raghunathan \d+"/);
    await refused('clubs:11', /"clubs" has weight 11/);
    // The same connection still transcribes.
    const { log } = await transcribeOver(client, CARDS, { sessionId: 'after' });
    assert.equal(finals(log).length, 1);
    await client.close();
  });
});

describe('the operator\'s keyterms (EARSHOT_KEYTERMS_FILE)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-keyterms-'));
  const file = path.join(dir, 'keyterms.txt');
  fs.writeFileSync(file, '# the card game\nclubs   # suits\nspades\n');
  const t = serverForSuite({ config: { keyterms: resolveServerConfig([], { EARSHOT_KEYTERMS_FILE: file }).keyterms } });

  it('are added to every session: one that sends none still gets the word right', async () => {
    const client = await EarshotClient.connect(t.ws);
    assert.match(textOf((await transcribeOver(client, CARDS)).log), /queen of clubs/i);
    await client.close();
  });

  it('a bad line is a configuration error naming it', () => {
    fs.writeFileSync(path.join(dir, 'bad.txt'), 'clubs\n' + 'y'.repeat(60) + '\n');
    assert.throws(() => resolveServerConfig([], { EARSHOT_KEYTERMS_FILE: path.join(dir, 'bad.txt') }), /EARSHOT_KEYTERMS_FILE: keyterm "y{60}" is longer than 50 characters/);
  });
});
