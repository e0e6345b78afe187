import type { Denoiser } from "../core/denoiser.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { countedMean, pfOdeVelocity, rates, solverGrid, type CountedMean, type SolverResult } from "./drift.js";

/**
 * Probability-flow ODE samplers for the Gaussian process (drift.ts has the
 * velocity): Euler, Heun (k-diffusion's sample_euler / sample_heun, in t
 * instead of sigma), and adaptive Dormand-Prince RK45. Also the generic
 * integrators, reused by the likelihood.
 */

/** dy/dt = field(t, y) on flat float64 state. */
export type Field = (t: number, y: Float64Array) => Promise<Float64Array>;

/** The PF-ODE velocity as a field on the flattened batch, counting model evaluations. */
export function pfOdeField(schedule: NoiseSchedule, mean: CountedMean): Field {
  return async (t, y) => pfOdeVelocity(rates(schedule, t), y, await mean(y, t), new Float64Array(y.length));
}

export interface OdeSamplerOptions {
  schedule: NoiseSchedule;
  /** Needs `mean` (E[x0 | x_t]). */
  denoiser: Denoiser;
  /** Decreasing times 1 -> 0 (grid.ts); the last step, to t = 0, returns the denoised mean. */
  grid: readonly number[];
  /** The start x at grid[0] (e.g. `gaussian(schedule).prior(shape, rng)` or the exact marginal). */
  x1: Tensor;
}

/** Euler on the PF-ODE: x_s = x_t + (s - t) v(x_t, t). NFE = steps. */
export async function sampleEuler(opts: OdeSamplerOptions): Promise<SolverResult> {
  return fixedStepSampler(opts, async (field, x, t, s) => axpy(x, s - t, await field(t, x)));
}

/**
 * Heun (trapezoid predictor-corrector): Euler to s, then average the two
 * slopes. Second order; NFE = 2 (steps - 1) + 1 (the final step is the denoise).
 */
export async function sampleHeun(opts: OdeSamplerOptions): Promise<SolverResult> {
  return fixedStepSampler(opts, async (field, x, t, s) => {
    const d1 = await field(t, x);
    const d2 = await field(s, axpy(x, s - t, d1));
    const out = new Float64Array(x.length);
    for (let i = 0; i < out.length; i++) out[i] = x[i] + ((s - t) * (d1[i] + d2[i])) / 2;
    return out;
  });
}

type Step = (field: Field, x: Float64Array, t: number, s: number) => Promise<Float64Array>;

async function fixedStepSampler(opts: OdeSamplerOptions, step: Step): Promise<SolverResult> {
  const grid = solverGrid(opts.grid);
  const mean = countedMean(opts.denoiser, opts.x1.shape);
  const field = pfOdeField(opts.schedule, mean);
  let x: Float64Array = Float64Array.from(opts.x1.data);
  for (let i = 0; i + 1 < grid.length; i++) {
    const t = grid[i], s = grid[i + 1];
    // b(0) = 0: the velocity is undefined there, the denoised mean is the endpoint.
    x = s === 0 ? Float64Array.from(await mean(x, t)) : await step(field, x, t, s);
  }
  return { x: tensor(opts.x1.shape, Float32Array.from(x)), nfe: mean.nfe };
}

export interface Rk45Options {
  /** Relative and absolute tolerances of the local error (default 1e-5 and 1e-5). */
  rtol?: number;
  atol?: number;
  /** Give up after this many attempted steps (default 10000). */
  maxSteps?: number;
}

export interface Rk45Result {
  y: Float64Array;
  /** Accepted and rejected steps, field evaluations. */
  accepted: number;
  rejected: number;
  evals: number;
}

// Dormand & Prince (1980), RK5(4)7FM: the 5th-order solution propagates (FSAL).
const C = [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1];
const A = [
  [],
  [1 / 5],
  [3 / 40, 9 / 40],
  [44 / 45, -56 / 15, 32 / 9],
  [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
  [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
  [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
];
// 5th minus 4th order weights: the embedded local error estimate.
const E = [71 / 57600, 0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40];

/**
 * Adaptive Dormand-Prince RK45 from t0 to t1 (either direction), with the
 * usual scaled RMS error norm err = rms(e_i / (atol + rtol max(|y_i|, |y_new_i|)))
 * and step control h <- h min(5, max(0.2, 0.9 err^(-1/5))) (Hairer, Norsett &
 * Wanner, Solving ODEs I, II.4). The first step follows Hairer's heuristic.
 */
export async function integrateRk45(field: Field, y0: Float64Array, t0: number, t1: number, opts: Rk45Options = {}): Promise<Rk45Result> {
  const rtol = opts.rtol ?? 1e-5, atol = opts.atol ?? 1e-5, maxSteps = opts.maxSteps ?? 10000;
  if (!(rtol > 0) || !(atol > 0)) throw new Error(`rk45: tolerances must be positive, got rtol = ${rtol}, atol = ${atol}`);
  const dir = Math.sign(t1 - t0);
  const n = y0.length;
  const scale = (y: Float64Array, z: Float64Array) => (i: number) => atol + rtol * Math.max(Math.abs(y[i]), Math.abs(z[i]));
  const rms = (v: (i: number) => number) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += v(i) ** 2;
    return Math.sqrt(s / Math.max(n, 1));
  };
  let evals = 0;
  const f: Field = (t, y) => (evals++, field(t, y));
  let t = t0, y = Float64Array.from(y0), k1 = await f(t, y);
  let h = dir * (await initialStep(f, t, y, k1, dir, Math.abs(t1 - t0), (i) => atol + rtol * Math.abs(y[i]), rms));
  let accepted = 0, rejected = 0;
  while (dir * (t1 - t) > 0) {
    if (accepted + rejected >= maxSteps) throw new Error(`rk45: no convergence in ${maxSteps} steps (t = ${t}, h = ${h}); loosen rtol/atol`);
    if (dir * (t + h - t1) > 0) h = t1 - t;
    const k = [k1];
    let yNew = y;
    for (let st = 1; st < 7; st++) {
      yNew = Float64Array.from(y);
      for (let j = 0; j < st; j++) if (A[st][j] !== 0) for (let i = 0; i < n; i++) yNew[i] += h * A[st][j] * k[j][i];
      k.push(await f(t + C[st] * h, yNew));
    }
    // Stage 7 was evaluated at y_new itself (FSAL): it is the next step's k1.
    const sc = scale(y, yNew);
    const err = rms((i) => (h * E.reduce((acc, e, j) => acc + e * k[j][i], 0)) / sc(i));
    const factor = err === 0 ? 5 : Math.min(5, Math.max(0.2, 0.9 * err ** -0.2));
    if (err <= 1) {
      t = dir * (t1 - (t + h)) <= 1e-14 ? t1 : t + h;
      y = yNew;
      k1 = k[6];
      accepted++;
    } else {
      rejected++;
    }
    h *= err <= 1 ? factor : Math.min(factor, 1);
  }
  return { y, accepted, rejected, evals };
}

/** Hairer's first step: about the step whose Euler error is tol, capped at the span. */
async function initialStep(
  f: Field, t: number, y: Float64Array, k1: Float64Array, dir: number, span: number,
  sc: (i: number) => number, rms: (v: (i: number) => number) => number,
): Promise<number> {
  if (span === 0) return 0;
  const d0 = rms((i) => y[i] / sc(i)), d1 = rms((i) => k1[i] / sc(i));
  const h0 = Math.min(span, d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * (d0 / d1));
  const k2 = await f(t + dir * h0, Float64Array.from(y, (v, i) => v + dir * h0 * k1[i]));
  const d2 = rms((i) => (k2[i] - k1[i]) / sc(i)) / h0;
  const h1 = Math.max(d1, d2) <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : (0.01 / Math.max(d1, d2)) ** 0.2;
  return Math.min(100 * h0, h1, span);
}

/** y + c x, elementwise. */
function axpy(y: Float64Array, c: number, x: Float64Array): Float64Array {
  const out = new Float64Array(y.length);
  for (let i = 0; i < out.length; i++) out[i] = y[i] + c * x[i];
  return out;
}

export interface Rk45SamplerOptions extends Omit<OdeSamplerOptions, "grid">, Rk45Options {
  /** Integrate from t = 1 down to tEnd > 0, then return the denoised mean there (default 1e-3). */
  tEnd?: number;
}

/** Adaptive RK45 on the PF-ODE from t = 1 to tEnd, then the denoised mean. NFE counts every evaluation. */
export async function sampleRk45(opts: Rk45SamplerOptions): Promise<SolverResult & { accepted: number; rejected: number }> {
  const tEnd = opts.tEnd ?? 1e-3;
  if (!(tEnd > 0 && tEnd < 1)) throw new Error(`rk45: tEnd must lie in (0, 1), got ${tEnd}`);
  const mean = countedMean(opts.denoiser, opts.x1.shape);
  const res = await integrateRk45(pfOdeField(opts.schedule, mean), Float64Array.from(opts.x1.data), 1, tEnd, opts);
  const x = await mean(res.y, tEnd);
  return { x: tensor(opts.x1.shape, x), nfe: mean.nfe, accepted: res.accepted, rejected: res.rejected };
}
