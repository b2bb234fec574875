/** Timing helpers shared by the benchmarks: medians of rounds, never a single run. */

export function median(values: number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Seconds per call: `rounds` rounds of `reps` calls after a warm-up, the median round. */
export function timeCalls(fn: () => void, rounds: number, reps: number, warmup = 3): number {
  for (let i = 0; i < warmup; i++) fn();
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < reps; i++) fn();
    perRound.push(Number(process.hrtime.bigint() - start) / 1e9 / reps);
  }
  return median(perRound);
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
