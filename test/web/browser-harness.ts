/**
 * End-to-end plumbing for the web client: build it with Vite, run the real `earshot serve` as a child process,
 * and drive Debian's Chromium (playwright-core) with a WAV file as its microphone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { build } from 'vite';
import { writeWav } from '../../src/audio/wav.ts';
import { clipSamples, conversation } from '../../eval/conversation.ts';
import type { SpeechClip } from '../../eval/speech.ts';
import { requireTool, skipWithout } from '../support/require-tool.ts';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** Why the browser tests cannot run here (Chromium on PATH, or EARSHOT_CHROMIUM), or false; never skipped under CI. */
export function browserSkipReason(): string | false {
  return skipWithout('chromium');
}

/** Builds the web client and the browser SDK (`sdk/`) into `outDir` (not web/dist: a developer's build is left alone). */
export async function buildClient(outDir: string): Promise<void> {
  await build({
    configFile: path.join(REPO, 'web/vite.config.ts'),
    logLevel: 'warn',
    build: { outDir, emptyOutDir: true },
  });
  await build({
    configFile: path.join(REPO, 'web/vite.sdk.config.ts'),
    logLevel: 'warn',
    build: { outDir: path.join(outDir, 'sdk'), emptyOutDir: true },
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** `node bin/earshot.js serve` on a fixed port, restartable on the same port. */
export class ServerProcess {
  private child: ChildProcess | null = null;
  output = '';

  constructor(
    readonly port: number,
    private readonly webRoot: string,
    /** Extra environment, e.g. EARSHOT_TOKEN. */
    private readonly env: Record<string, string> = {},
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the server and waits for GET /ready = 200 (the models are loaded). */
  async start(timeoutMs = 90_000): Promise<void> {
    const child = spawn(process.execPath, ['bin/earshot.js', 'serve', '--port', String(this.port), '--web-root', this.webRoot], {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, EARSHOT_HOST: '127.0.0.1', ...this.env },
    });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`earshot serve exited with ${child.exitCode}:\n${this.output}`);
      try {
        const res = await fetch(`${this.url}/ready`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(200);
    }
    throw new Error(`earshot serve was not ready after ${timeoutMs} ms:\n${this.output}`);
  }

  /** Stops the server: SIGKILL simulates a crash (connections drop without a close frame). */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    await exited;
    clearTimeout(timer);
  }
}

export interface BrowserOptions {
  /** WAV file the fake microphone plays. */
  wav: string;
  /** Play the file once, then silence (default), or loop it. */
  loop?: boolean;
  /** Auto-accept the microphone permission prompt (default true); false: the prompt is denied. */
  allowMic?: boolean;
}

/** Debian's Chromium, headless, with a WAV file as the microphone and no background network traffic. */
export async function launchBrowser(options: BrowserOptions): Promise<Browser> {
  const args = [
    '--headless=new',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--no-first-run',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${options.wav}${options.loop ? '' : '%noloop'}`,
  ];
  if (options.allowMic ?? true) args.push('--use-fake-ui-for-media-stream');
  else args.push('--deny-permission-prompts');
  return chromium.launch({ executablePath: requireTool('chromium'), args, timeout: 60_000 });
}

/** `clips` joined with `gapSeconds` of silence between them and around them, written as 16 kHz mono 16-bit WAV. */
export function writeConversationWav(dir: string, name: string, clips: SpeechClip[], gapSeconds: number): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, writeWav(conversation(clips, gapSeconds).samples, 16000));
  return file;
}

/** One clip with silence before and after (for a looping microphone that keeps saying it). */
export function writeClipWav(dir: string, name: string, clip: SpeechClip, leadSeconds: number, tailSeconds: number): string {
  const speech = clipSamples(clip);
  const samples = new Float32Array(Math.round(leadSeconds * 16000) + speech.length + Math.round(tailSeconds * 16000));
  samples.set(speech, Math.round(leadSeconds * 16000));
  const file = path.join(dir, name);
  fs.writeFileSync(file, writeWav(samples, 16000));
  return file;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
