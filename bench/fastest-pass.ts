/**
 * Transcribes every clip `passes` times, after one warm-up clip, and keeps the fastest pass: on a shared machine the
 * least disturbed run is the best estimate of what the code costs. Both sides of a comparison use this same rule.
 */
export async function fastestPass(
  clips: Float32Array[],
  transcribe: (samples: Float32Array) => Promise<string>,
  passes = 5,
): Promise<{ ms: number; texts: string[] }> {
  await transcribe(clips[0]!); // the first run pays for allocations and kernel preparation
  let best = Infinity;
  let texts: string[] = [];
  for (let pass = 0; pass < passes; pass++) {
    let ms = 0;
    texts = [];
    for (const samples of clips) {
      const started = performance.now();
      texts.push(await transcribe(samples));
      ms += performance.now() - started;
    }
    best = Math.min(best, ms);
  }
  return { ms: best, texts };
}
