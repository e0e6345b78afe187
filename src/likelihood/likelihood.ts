import type { Denoiser } from "../core/denoiser.js";
import { Rng } from "../core/rng.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { itemSize, tensor, type Tensor } from "../core/tensor.js";
import { countedMean, pfOdeVelocity, rates } from "../samplers/drift.js";
import { integrateRk45, type Field } from "../samplers/ode.js";
import { DEFAULT_FD_STEP, drawProbes, exactTrace, hutchinsonTrace, type BatchMap, type ProbeKind } from "./divergence.js";

/**
 * Log-likelihood through the probability-flow ODE (Song et al. 2021, sec. 4.3;
 * FFJORD): along dx/dt = v(x, t) the density obeys d log p_t(x(t))/dt = -div v, so
 *
 *   log p_tMin(x) = log p_1(x(1)) + int_tMin^1 div v(x(t), t) dt,   x(tMin) = x.
 *
 * With v = a' m + (b'/b)(x - a m) (drift.ts) the divergence is
 *   div v = d b'/b + (a' - a b'/b) tr(dm/dx),
 * so only the trace of the denoiser mean's Jacobian needs the model
 * (divergence.ts: exact by finite differences, or Hutchinson).
 *
 * tMin: the velocity divides by b, and b(0) = 0, so the ODE starts at a
 * small tMin > 0 with x(tMin) = x; the result is the density of the slightly
 * noised data p_tMin, which tends to the data density as b(tMin) -> 0.
 *
 * Prior: p_1 = N(0, (a(1)^2 s^2 + b(1)^2) I) with s = `dataStd` (default 1):
 * N(0, I) for VP (a^2 + b^2 = 1), N(0, (1 + sigma_max^2) I) for VE; the a(1)
 * term matters for schedules that do not reach pure noise. Pass
 * `priorLogDensity` to use another (e.g. the exact marginal in tests).
 */

export type DivergenceMethod =
  | { kind: "exact" }
  | { kind: "hutchinson"; probes?: number; noise?: ProbeKind };

export type LikelihoodSolver =
  | { kind: "rk45"; rtol?: number; atol?: number }
  | { kind: "heun"; steps: number };

export interface LikelihoodOptions {
  schedule: NoiseSchedule;
  /** Needs `mean` (E[x0 | x_t]). */
  denoiser: Denoiser;
  /** Rows to evaluate, [n, ...item]; one ODE solve for the whole batch. */
  x: Tensor;
  /** Start time of the ODE (default 1e-3), see above. */
  tMin?: number;
  /** Default: exact for items of at most 16 values, Hutchinson (1 Rademacher probe) above. */
  divergence?: DivergenceMethod;
  /** Default RK45 with rtol = atol = 1e-5. */
  solver?: LikelihoodSolver;
  /** Per-coordinate data scale in the default prior (default 1). */
  dataStd?: number;
  /** log p_1 per row, replacing the default Gaussian prior. */
  priorLogDensity?: (x1: Tensor) => ArrayLike<number>;
  /** Finite-difference step of the trace (default 1e-3). */
  fdStep?: number;
  /** Seeds the Hutchinson probes (default a fixed seed, 0). */
  rng?: Rng;
}

export interface LikelihoodResult {
  /** log p_tMin(x) per row, in nats. */
  logp: Float64Array;
  /** log p_1(x(1)) and int div v dt per row. */
  priorLogp: Float64Array;
  deltaLogp: Float64Array;
  /** x(1), the data mapped to noise. */
  x1: Tensor;
  /** Model evaluations in units of the whole batch: 1 per field evaluation plus 2 d (exact) or 2 K (Hutchinson) for the trace, sent as larger batches. */
  nfe: number;
  /** Field evaluations of the ODE solver. */
  fieldEvals: number;
}

export async function logLikelihood(opts: LikelihoodOptions): Promise<LikelihoodResult> {
  const { schedule, x } = opts;
  const n = x.shape[0], d = itemSize(x);
  const tMin = opts.tMin ?? 1e-3;
  if (!(tMin > 0 && tMin < 1)) throw new Error(`likelihood: tMin must lie in (0, 1), got ${tMin}`);
  const divergence = opts.divergence ?? (d <= 16 ? { kind: "exact" } : { kind: "hutchinson", probes: 1 });
  const h = opts.fdStep ?? DEFAULT_FD_STEP;

  const mean = countedMean(opts.denoiser, x.shape);
  // The trace's perturbed copies go to the model as one batch of many rows.
  let traceRows = 0;
  const meanAt = (t: number): BatchMap => async (y, rows) => {
    traceRows += rows;
    return (await opts.denoiser.mean!(tensor([rows, ...x.shape.slice(1)], Float32Array.from(y)), t)).data;
  };
  const probes = divergence.kind === "hutchinson"
    ? drawProbes(n, d, divergence.probes ?? 1, divergence.noise ?? "rademacher", opts.rng ?? new Rng(0))
    : null;

  // State: n * d coordinates, then n accumulated divergences.
  const field: Field = async (t, y) => {
    const xs = y.subarray(0, n * d);
    const r = rates(schedule, t);
    const out = new Float64Array(y.length);
    pfOdeVelocity(r, xs, await mean(xs, t), out.subarray(0, n * d));
    const tr = probes ? await hutchinsonTrace(meanAt(t), xs, n, d, probes, h) : await exactTrace(meanAt(t), xs, n, d, h);
    const k = r.db / r.b;
    for (let i = 0; i < n; i++) out[n * d + i] = d * k + (r.da - r.a * k) * tr[i];
    return out;
  };

  const y0 = new Float64Array(n * d + n);
  y0.set(x.data);
  const solver = opts.solver ?? { kind: "rk45" };
  const { y, fieldEvals } = solver.kind === "rk45"
    ? await integrateRk45(field, y0, tMin, 1, { rtol: solver.rtol ?? 1e-5, atol: solver.atol ?? 1e-5 }).then((r) => ({ y: r.y, fieldEvals: r.evals }))
    : await integrateHeun(field, y0, tMin, 1, solver.steps);

  const x1 = tensor(x.shape, Float32Array.from(y.subarray(0, n * d)));
  const deltaLogp = Float64Array.from(y.subarray(n * d));
  const priorLogp = Float64Array.from(opts.priorLogDensity ? opts.priorLogDensity(x1) : gaussianLogDensity(x1, priorStd(schedule, opts.dataStd ?? 1)));
  if (priorLogp.length !== n) throw new Error(`likelihood: priorLogDensity returned ${priorLogp.length} values for ${n} rows`);
  const logp = priorLogp.map((p, i) => p + deltaLogp[i]);
  return { logp, priorLogp, deltaLogp, x1, nfe: mean.nfe + traceRows / n, fieldEvals };
}

/** Std of the default prior N(0, (a(1)^2 s^2 + b(1)^2) I). */
export function priorStd(schedule: NoiseSchedule, dataStd = 1): number {
  return Math.hypot(schedule.a(1) * dataStd, schedule.b(1));
}

/** log N(x; 0, s^2 I) per row. */
export function gaussianLogDensity(x: Tensor, s: number): Float64Array {
  const d = itemSize(x);
  const out = new Float64Array(x.shape[0]);
  for (let i = 0; i < out.length; i++) {
    let sq = 0;
    for (let j = i * d; j < i * d + d; j++) sq += x.data[j] ** 2;
    out[i] = -0.5 * (sq / (s * s) + d * Math.log(2 * Math.PI * s * s));
  }
  return out;
}

/** Fixed-step Heun from t0 to t1 on a uniform grid (2 field evaluations per step). */
async function integrateHeun(field: Field, y0: Float64Array, t0: number, t1: number, steps: number): Promise<{ y: Float64Array; fieldEvals: number }> {
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`likelihood: heun steps must be a positive integer, got ${steps}`);
  let y = y0;
  const dt = (t1 - t0) / steps;
  for (let k = 0; k < steps; k++) {
    const t = t0 + k * dt;
    const d1 = await field(t, y);
    const pred = y.map((v, i) => v + dt * d1[i]);
    const d2 = await field(k === steps - 1 ? t1 : t + dt, pred);
    y = y.map((v, i) => v + (dt * (d1[i] + d2[i])) / 2);
  }
  return { y, fieldEvals: 2 * steps };
}
