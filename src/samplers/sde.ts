import type { Denoiser } from "../core/denoiser.js";
import type { Rng } from "../core/rng.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { countedMean, rates, sdeCoefficients, solverGrid, type SolverResult } from "./drift.js";

export interface SdeSamplerOptions {
  schedule: NoiseSchedule;
  /** Needs `mean` (E[x0 | x_t]). */
  denoiser: Denoiser;
  /** Decreasing times 1 -> 0 (grid.ts); the last step, to t = 0, returns the denoised mean. */
  grid: readonly number[];
  /** The start x at grid[0]. */
  x1: Tensor;
  rng: Rng;
}

/**
 * Euler-Maruyama on the reverse SDE (Song et al. 2021),
 *   dx = [f x - g^2 score] dt + g dw_bar,   run from t = 1 down to 0:
 *   x_s = x_t + (s - t) [f x_t - g^2 score(x_t)] + g sqrt(t - s) z,
 * with f, g^2 at the step's start t (drift.ts). The generic sampler with the
 * DDPM r is the same process's exact-in-distribution discretisation. NFE = steps.
 * Where a(t) = 0 (cosine at t = 1) f is infinite: start such grids below it.
 */
export async function sampleEulerMaruyama(opts: SdeSamplerOptions): Promise<SolverResult> {
  const grid = solverGrid(opts.grid);
  const mean = countedMean(opts.denoiser, opts.x1.shape);
  let x = Float64Array.from(opts.x1.data);
  for (let i = 0; i + 1 < grid.length; i++) {
    const t = grid[i], s = grid[i + 1];
    const m = await mean(x, t);
    if (s === 0) {
      x = Float64Array.from(m);
      break;
    }
    const r = rates(opts.schedule, t);
    const { f, g2 } = sdeCoefficients(r);
    const dt = s - t;
    const noise = Math.sqrt(g2 * -dt);
    for (let j = 0; j < x.length; j++) {
      const score = (r.a * m[j] - x[j]) / (r.b * r.b);
      x[j] += dt * (f * x[j] - g2 * score) + noise * opts.rng.normal();
    }
  }
  return { x: tensor(opts.x1.shape, Float32Array.from(x)), nfe: mean.nfe };
}
