import type { Denoiser } from "../core/denoiser.js";
import { checkGrid } from "../core/grid.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";

/**
 * The Gaussian process x_t = a(t) x0 + b(t) eps in continuous time, written
 * for any a, b (VP and VE alike), with the denoiser's mean m(x, t) = E[x0 | x_t = x]:
 *
 *   score            = (a m - x) / b^2
 *   eps_hat          = (x - a m) / b
 *   SDE drift        f(t) = a'/a,  diffusion g(t)^2 = d(b^2)/dt - 2 f b^2 = 2 b (b' - b a'/a)
 *   PF-ODE velocity  dx/dt = f x - g^2 score / 2 = a' m + (b'/b)(x - a m)
 *
 * The PF-ODE form is "hold x0_hat and eps_hat fixed and differentiate
 * a x0 + b eps", which stays finite where a = 0 (cosine at t = 1), unlike f.
 * It needs b > 0: solvers stop at a positive time and return the denoised
 * mean there (k-diffusion's final sigma = 0 step).
 */

/** a, b and their time derivatives at one t. */
export interface Rates {
  t: number;
  a: number;
  b: number;
  da: number;
  db: number;
}

/** Step of the finite differences: its truncation (h^2) and round-off (1e-16 / h) errors are both ~1e-10. */
const FD_STEP = 1e-5;

/**
 * Derivative of a schedule function on [0, 1], second-order accurate:
 * central differences inside, one-sided three-point stencils within h of an
 * end, so no point outside (0, 1] is read: schedules clamp outside [0, 1],
 * and VE and log-SNR jump to b = 0 at t = 0 exactly.
 */
export function derivative(fn: (t: number) => number, t: number, h = FD_STEP): number {
  if (!(t > 0 && t <= 1)) throw new Error(`derivative: t must lie in (0, 1], got ${t}`);
  if (t - h > 0 && t + h <= 1) return (fn(t + h) - fn(t - h)) / (2 * h);
  if (t - h <= 0) return (-3 * fn(t) + 4 * fn(t + h) - fn(t + 2 * h)) / (2 * h);
  return (3 * fn(t) - 4 * fn(t - h) + fn(t - 2 * h)) / (2 * h);
}

export function rates(schedule: NoiseSchedule, t: number): Rates {
  return { t, a: schedule.a(t), b: schedule.b(t), da: derivative(schedule.a, t), db: derivative(schedule.b, t) };
}

/** Half log-SNR lambda = log(a / b), DPM-Solver's time variable. */
export function halfLogSnr(schedule: NoiseSchedule, t: number): number {
  return Math.log(schedule.a(t)) - Math.log(schedule.b(t));
}

/** Below this a(t), f = a'/a is numerically infinite (cosine's a(1) is ~1e-17, not 0). */
const MIN_SIGNAL = 1e-6;

/** Reverse-SDE coefficients f = a'/a and g^2 = 2 b (b' - b a'/a); infinite where a = 0. */
export function sdeCoefficients(r: Rates): { f: number; g2: number } {
  if (!(r.a > MIN_SIGNAL)) throw new Error(`reverse SDE: a(t) = ${r.a} at t = ${r.t}, so f = a'/a is (numerically) infinite; use a schedule with a(1) > ${MIN_SIGNAL} (log-SNR, VE, linear-beta) or the PF-ODE / generic sampler`);
  const f = r.da / r.a;
  return { f, g2: 2 * r.b * (r.db - r.b * f) };
}

/** PF-ODE velocity a' m + (b'/b)(x - a m), elementwise into `out`. */
export function pfOdeVelocity(r: Rates, x: ArrayLike<number>, m: ArrayLike<number>, out: Float64Array): Float64Array {
  if (!(r.b > 0)) throw new Error(`PF-ODE: b(t) = ${r.b} at t = ${r.t}; the velocity divides by b, stop at a positive time`);
  const k = r.db / r.b;
  for (let i = 0; i < out.length; i++) out[i] = r.da * m[i] + k * (x[i] - r.a * m[i]);
  return out;
}

/** The score (a m - x) / b^2 (exact when m is the exact posterior mean). */
export function scoreFromMean(x: Tensor, m: Tensor, a: number, b: number): Tensor {
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = (a * m.data[i] - x.data[i]) / (b * b);
  return tensor(x.shape, out);
}

/** eps_hat = (x - a m) / b. */
export function epsFromMean(x: Tensor, m: Tensor, a: number, b: number): Tensor {
  const out = new Float32Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = (x.data[i] - a * m.data[i]) / b;
  return tensor(x.shape, out);
}

/**
 * E[x0 | x_t] with a model-evaluation counter. The solvers need a mean:
 * a denoiser without one (a sampled q(x0 | x_t) only) is refused.
 */
export interface CountedMean {
  (x: ArrayLike<number>, t: number): Promise<Float32Array>;
  readonly nfe: number;
}

export function countedMean(denoiser: Denoiser, shape: readonly number[]): CountedMean {
  if (!denoiser.mean) throw new Error("solver: the denoiser has no mean E[x0 | x_t]; ODE/SDE solvers need it");
  const mean = denoiser.mean.bind(denoiser);
  let nfe = 0;
  const f = async (x: ArrayLike<number>, t: number) => {
    nfe++;
    const m = await mean(tensor(shape, Float32Array.from(x)), t);
    return m.data;
  };
  Object.defineProperty(f, "nfe", { get: () => nfe });
  return f as CountedMean;
}

/**
 * A solver's grid: any grid of grid.ts (1 = t_N > ... > t_0 = 0). The steps
 * between positive times are integrated; the last step, to t = 0 where b = 0,
 * returns the denoised mean (as the generic sampler does with r = 0).
 */
export function solverGrid(grid: readonly number[]): number[] {
  return checkGrid(grid);
}

/** What every solver returns: the samples and the number of model (mean) evaluations. */
export interface SolverResult {
  x: Tensor;
  nfe: number;
}
