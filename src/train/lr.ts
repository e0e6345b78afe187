/**
 * The learning rate of step k: a linear warm-up to `lr` over `warmup` steps,
 * then, for a decaying schedule, a decay to 0 at the end of the run.
 *
 * The end of the run is `steps`, or the wall-clock budget `maxSeconds`
 * when that comes first: a run given "20 minutes" (--max-seconds) and a
 * huge step count decays over its 20 minutes, which a step-indexed
 * schedule cannot know in advance. progress = the larger of the two
 * fractions, so whichever budget binds ends the decay.
 *
 * - "constant": lr after the warm-up (the library's default).
 * - "cosine": lr (1 + cos(pi p)) / 2 (Loshchilov & Hutter's SGDR without
 *   restarts; the usual schedule of diffusers' and nanoGPT's training).
 * - "linear": lr (1 - p), the decay to zero that short budgets favour.
 */
export type LrSchedule = "constant" | "cosine" | "linear";

export const lrSchedules = ["constant", "cosine", "linear"] as const;

export interface LrOptions {
  lr: number;
  warmup: number;
  lrSchedule: LrSchedule;
  steps: number;
  /** Wall-clock budget in seconds; with `elapsed`, progress may also be measured in time. */
  maxSeconds?: number;
}

/** Learning rate of step k (1-based) after `elapsed` seconds of training (all sessions of the run). */
export function learningRate(o: LrOptions, k: number, elapsed = 0): number {
  if (o.warmup > 0 && k <= o.warmup) return (o.lr * k) / o.warmup;
  if (o.lrSchedule === "constant") return o.lr;
  const bySteps = o.steps > o.warmup ? (k - o.warmup) / (o.steps - o.warmup) : 1;
  const byTime = o.maxSeconds !== undefined ? elapsed / o.maxSeconds : 0;
  const p = Math.min(1, Math.max(bySteps, byTime));
  return o.lrSchedule === "cosine" ? (o.lr * (1 + Math.cos(Math.PI * p))) / 2 : o.lr * (1 - p);
}
