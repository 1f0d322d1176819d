/**
 * `npm run soak -- --minutes M [--sessions 6]`: M minutes of real-time clients speaking fixture sentences with random
 * pauses, stop/start cycles and reconnects, against a server started here. Prints the server's RSS every minute and
 * exits 1 if it grows by more than 10 % after the first minute (or if any final is lost).
 */
import { parseArgs } from 'node:util';
import { EarshotClient } from '../src/client/earshot-client.ts';
import { clipSamples } from '../eval/conversation.ts';
import { SPEECH_CLIPS } from '../eval/speech.ts';
import { startServerProcess } from '../eval/server-process.ts';

const { values } = parseArgs({ options: { minutes: { type: 'string', default: '5' }, sessions: { type: 'string', default: '6' } } });
const minutes = Number(values.minutes);
const sessions = Number(values.sessions);
if (!(minutes > 0) || !(sessions > 0)) {
  console.error('usage: npm run soak -- --minutes M [--sessions N]');
  process.exit(2);
}

const clips = SPEECH_CLIPS.filter((c) => c.file !== 'jfk.wav').map(clipSamples);
const server = await startServerProcess();
const endAt = performance.now() + minutes * 60_000;
let seed = 42;
const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
let sent = 0;
let finals = 0;

async function speaker(i: number): Promise<void> {
  await new Promise((r) => setTimeout(r, i * 900));
  while (performance.now() < endAt) {
    const client = await EarshotClient.connect(server.wsUrl);
    client.on('final', () => finals++);
    // A few start/stop cycles per connection, then hang up (cleanly or abruptly) and call again.
    for (let cycle = 0; cycle < 1 + Math.floor(random() * 3) && performance.now() < endAt; cycle++) {
      await client.start(`soak-${i}`);
      for (let n = 0; n < 2 + Math.floor(random() * 4) && performance.now() < endAt; n++) {
        const clip = clips[Math.floor(random() * clips.length)]!;
        const pause = new Float32Array(Math.round((0.8 + random() * 2.5) * 16000));
        await client.streamPcm(clip, { realtime: true });
        await client.streamPcm(pause, { realtime: true });
        sent++;
      }
      await client.stop();
    }
    if (random() < 0.3) client.terminate();
    else await client.close();
  }
}

const rss: number[] = [];
const sampler = setInterval(() => {
  const { rssMb } = server.usage();
  rss.push(rssMb);
  console.log(`minute ${rss.length}: server RSS ${rssMb.toFixed(0)} MB, sentences sent ${sent}, finals ${finals}`);
}, 60_000);
await Promise.all(Array.from({ length: sessions }, (_, i) => speaker(i)));
clearInterval(sampler);
await server.stop();

const baseline = rss[0];
const peak = Math.max(...rss.slice(1));
const growth = baseline && rss.length > 1 ? (peak - baseline) / baseline : 0;
console.log(`RSS after minute 1: ${baseline?.toFixed(0)} MB, peak later: ${rss.length > 1 ? peak.toFixed(0) : 'n/a'} MB, growth ${(growth * 100).toFixed(1)} %`);
console.log(`sentences sent ${sent}, finals received ${finals}`);
const failed = growth > 0.1 || finals < sent;
console.log(failed ? 'SOAK FAILED' : 'soak passed');
process.exit(failed ? 1 : 0);
