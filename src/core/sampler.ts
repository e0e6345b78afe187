import type { Denoiser } from "./denoiser.js";
import { checkGrid } from "./grid.js";
import type { Process } from "./process.js";
import type { Rng } from "./rng.js";
import type { Tensor } from "./tensor.js";

/** The kernel knob r, fixed or as a function of the step (t -> s). */
export type RSchedule = number | ((t: number, s: number) => number);

export function rAt(r: RSchedule, t: number, s: number): number {
  const v = typeof r === "number" ? r : r(t, s);
  if (!(v >= 0 && v <= 1)) throw new Error(`sampler: r must lie in [0, 1], got ${v} at t = ${t}, s = ${s}`);
  return v;
}

/**
 * The correction of DESIGN.md section 2, given x0_hat: posterior noise, the
 * kernel K_r, then F_s. Exported alone so tests can check one step against
 * published formulas.
 */
export function correct<X, E>(process: Process<X, E>, x0hat: X, xt: X, t: number, s: number, r: number, rng: Rng): X {
  const eps = process.posteriorNoise(x0hat, xt, t, rng);
  return process.forward(x0hat, s, process.kernel(eps, r, rng));
}

export interface StepInfo<X> {
  /** Index of the step, 0 .. grid.length - 2. */
  step: number;
  steps: number;
  t: number;
  s: number;
  xt: X;
  x0hat: X;
  xs: X;
}

export interface SampleOptions<X, E> {
  process: Process<X, E>;
  denoiser: Denoiser<X>;
  /** Decreasing times from 1 to 0 (see grid.ts). */
  grid: readonly number[];
  r: RSchedule;
  rng: Rng;
  /** Batch shape, used to draw the start from the prior. */
  shape?: readonly number[];
  /** Start here instead of the prior (e.g. the exact marginal p(x_1)). */
  x1?: X;
  /** Called after every step: progress bars, trajectory pictures. */
  onStep?: (info: StepInfo<X>) => void | Promise<void>;
}

/**
 * The one sampler: predict x0_hat ~ q(x0 | x_t), then correct to x_s. It
 * never looks at which process it runs.
 */
export async function sample<X, E>(opts: SampleOptions<X, E>): Promise<X> {
  const { process, denoiser, r, rng, onStep } = opts;
  if (!opts.x1 && !opts.shape) throw new Error("sample: give either a batch shape or a start x1");
  // A discrete-time process only knows its own grid points k/T.
  const grid = checkGrid(opts.grid, process.time);
  let x = opts.x1 ?? process.prior(opts.shape!, rng);
  const steps = grid.length - 1;
  for (let i = 0; i < steps; i++) {
    const t = grid[i];
    const s = grid[i + 1];
    const x0hat = await denoiser.sample(x, t, rng);
    const xs = correct(process, x0hat, x, t, s, rAt(r, t, s), rng);
    if (onStep) await onStep({ step: i, steps, t, s, xt: x, x0hat, xs });
    x = xs;
  }
  return x;
}
