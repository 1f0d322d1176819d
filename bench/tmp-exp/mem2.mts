import path from 'node:path';
import ort from 'onnxruntime-node';
import { MoonshineEngine } from '/work/main/src/asr/moonshine-engine.ts';
import { clipSamples } from '/work/main/test/fixtures/conversation.ts';
import { SPEECH_CLIPS } from '/work/main/test/fixtures/speech.ts';
const rss = () => Math.round(process.memoryUsage().rss / 1048576);
const dir = (m: string) => path.join(process.env.HOME!, '.cache/earshot/models', m);
const clip = clipSamples(SPEECH_CLIPS[1]!);
let last = rss(); const log = (s: string) => { const r = rss(); console.log(s, r, '+' + (r - last)); last = r; };
log('start');
for (const m of process.argv.slice(2)) {
  const e = await MoonshineEngine.load({ name: m, dir: dir(m) });
  log('load ' + m);
  for (let i = 0; i < 3; i++) await e.transcribe(clip);
  log('run ' + m);
}
