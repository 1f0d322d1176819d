import { SingleBar, Presets } from 'cli-progress';

/** Reports download bytes: a live bar (bytes, rate, ETA) on a terminal, a few plain lines otherwise. */
export interface Progress {
  start(label: string, totalBytes: number): void;
  advance(bytes: number): void;
  stop(): void;
}

const MB = 1024 * 1024;

export function consoleProgress(stream: NodeJS.WriteStream = process.stderr): Progress {
  return stream.isTTY ? barProgress(stream) : lineProgress(stream);
}

function barProgress(stream: NodeJS.WriteStream): Progress {
  const bar = new SingleBar(
    {
      stream,
      format: '{label} [{bar}] {percentage}% | {doneMB}/{totalMB} MB | {rate} MB/s | ETA {eta_formatted}',
      hideCursor: true,
    },
    Presets.shades_classic,
  );
  let done = 0;
  let started = 0;
  let total = 0;
  return {
    start(label, totalBytes) {
      done = 0;
      total = totalBytes;
      started = performance.now();
      bar.start(Math.max(totalBytes, 1), 0, { label, doneMB: '0.0', totalMB: (totalBytes / MB).toFixed(1), rate: '0.0' });
    },
    advance(bytes) {
      done += bytes;
      const seconds = (performance.now() - started) / 1000;
      bar.update(Math.min(done, Math.max(total, 1)), {
        doneMB: (done / MB).toFixed(1),
        rate: seconds > 0 ? (done / MB / seconds).toFixed(1) : '0.0',
      });
    },
    stop() {
      bar.stop();
    },
  };
}

function lineProgress(stream: NodeJS.WriteStream): Progress {
  let label = '';
  let done = 0;
  let total = 0;
  let nextReport = 0;
  let started = 0;
  const report = () => {
    const seconds = (performance.now() - started) / 1000;
    const pct = total > 0 ? ` (${Math.floor((done / total) * 100)}%)` : '';
    stream.write(`${label}: ${(done / MB).toFixed(1)}/${(total / MB).toFixed(1)} MB${pct}, ${(done / MB / Math.max(seconds, 0.001)).toFixed(1)} MB/s\n`);
  };
  return {
    start(l, totalBytes) {
      label = l;
      done = 0;
      total = totalBytes;
      nextReport = totalBytes / 4;
      started = performance.now();
    },
    advance(bytes) {
      done += bytes;
      if (total > 0 && done >= nextReport && done < total) {
        report();
        nextReport += total / 4;
      }
    },
    stop() {
      report();
    },
  };
}

export const silentProgress: Progress = { start() {}, advance() {}, stop() {} };
