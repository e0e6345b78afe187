import type { Denoiser } from "../core/denoiser.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { countedMean, halfLogSnr, solverGrid, type SolverResult } from "./drift.js";

export interface DpmSolverOptions {
  schedule: NoiseSchedule;
  /** Needs `mean` (the data prediction x_theta = E[x0 | x_t]). */
  denoiser: Denoiser;
  /** Decreasing times 1 -> 0 (grid.ts); the last step, to t = 0, returns the denoised mean. */
  grid: readonly number[];
  /** The start x at grid[0]. */
  x1: Tensor;
}

/**
 * DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2): the
 * data-prediction exponential integrator, multistep, in lambda = log(a / b).
 * With h = lambda_s - lambda_t:
 *   x_s = (b_s / b_t) x_t - a_s (e^-h - 1) D,
 *   D = x0_t                                   (first step: DDIM, 1st order)
 *   D = (1 + 1/(2 r)) x0_t - 1/(2 r) x0_prev,  r = h_prev / h  (2nd order).
 * The 1st-order update is exactly the generic sampler's r = 0 step.
 * NFE = steps: one model evaluation per step, the last one the denoise at t_1.
 */
export async function sampleDpmSolver2M(opts: DpmSolverOptions): Promise<SolverResult> {
  const grid = solverGrid(opts.grid);
  const { a, b } = opts.schedule;
  const mean = countedMean(opts.denoiser, opts.x1.shape);
  let x = Float64Array.from(opts.x1.data);
  let prev: { x0: Float32Array; h: number } | null = null;
  for (let i = 0; i + 1 < grid.length; i++) {
    const t = grid[i], s = grid[i + 1];
    const x0 = await mean(x, t);
    if (s === 0) {
      x = Float64Array.from(x0);
      break;
    }
    const h = halfLogSnr(opts.schedule, s) - halfLogSnr(opts.schedule, t);
    if (!(h > 0)) throw new Error(`dpm-solver: log-SNR must increase from t = ${t} to s = ${s} (h = ${h})`);
    const ratio = b(s) / b(t), c = -a(s) * Math.expm1(-h);
    const w = prev ? 1 / (2 * (prev.h / h)) : 0;
    for (let j = 0; j < x.length; j++) {
      const d = prev ? (1 + w) * x0[j] - w * prev.x0[j] : x0[j];
      x[j] = ratio * x[j] + c * d;
    }
    prev = { x0, h };
  }
  return { x: tensor(opts.x1.shape, Float32Array.from(x)), nfe: mean.nfe };
}
