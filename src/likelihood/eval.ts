/**
 * `udm eval --nll`: bits per dimension of held-out data under a model.
 *
 *   const { bitsPerDim, nll } = await evalNll({ schedule, denoiser, data });
 *
 * `denoiser` is any Denoiser with `mean` for the Gaussian process of
 * `schedule` (a trained network through train/network-denoiser.ts's
 * gaussianDenoiser, or the mixture oracle). The data is cut into batches;
 * every batch is one PF-ODE solve (likelihood.ts), so its rows share the
 * adaptive steps. bits/dim = NLL / (d ln 2), NLL in nats per example.
 *
 * Discrete data (images): pass `dequantize: { binWidth }`, the width of one
 * intensity level in the model's units (2/255 for 8-bit pixels scaled to
 * [-1, 1]). Each value then gets uniform noise on [-w/2, w/2) and the NLL
 * gets - d ln w (a bin's probability is the density times w^d), so bits/dim
 * bounds the discrete model's -log2 P(pixels) / d (uniform dequantization,
 * Theis et al. 2016); with w = 2/255 that adds log2(127.5) ~ 6.99 bits/dim.
 */
import { Rng } from "../core/rng.js";
import type { Denoiser } from "../core/denoiser.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { itemSize, sliceBatch, tensor, type Tensor } from "../core/tensor.js";
import { logLikelihood, type DivergenceMethod, type LikelihoodSolver } from "./likelihood.js";

export interface EvalNllOptions {
  schedule: NoiseSchedule;
  denoiser: Denoiser;
  /** Held-out rows [n, ...item]. */
  data: Tensor;
  /** Rows per ODE solve (default 256). */
  batchSize?: number;
  /** Default: exact up to 16 values per item, else Hutchinson with 1 Rademacher probe. */
  divergence?: DivergenceMethod;
  solver?: LikelihoodSolver;
  tMin?: number;
  /** Data scale in the default prior N(0, (a(1)^2 s^2 + b(1)^2) I) (default 1). */
  dataStd?: number;
  dequantize?: { binWidth: number };
  /** Seeds probes and dequantization noise (default 0). */
  seed?: number;
  onBatch?: (done: number, total: number) => void;
}

export interface EvalNllResult {
  /** Mean negative log-likelihood, nats per example, and its standard error. */
  nll: number;
  nllStderr: number;
  /** nll / (d ln 2), and its standard error. */
  bitsPerDim: number;
  bitsPerDimStderr: number;
  n: number;
  d: number;
  /** Model calls on batches (see LikelihoodResult.nfe), summed over batches. */
  nfe: number;
}

export async function evalNll(opts: EvalNllOptions): Promise<EvalNllResult> {
  const { data } = opts;
  const n = data.shape[0], d = itemSize(data);
  if (n < 1) throw new Error("evalNll: no data rows");
  const batchSize = opts.batchSize ?? 256;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new Error(`evalNll: batchSize must be a positive integer, got ${batchSize}`);
  const w = opts.dequantize?.binWidth;
  if (w !== undefined && !(w > 0)) throw new Error(`evalNll: dequantize.binWidth must be positive, got ${w}`);
  const rng = new Rng(opts.seed ?? 0);
  const nlls: number[] = [];
  let nfe = 0;
  for (let start = 0; start < n; start += batchSize) {
    let x = sliceBatch(data, start, Math.min(n, start + batchSize));
    if (w !== undefined) x = tensor(x.shape, x.data.map((v) => v + w * (rng.uniform() - 0.5)));
    const res = await logLikelihood({ ...opts, x, rng: rng.fork() });
    nfe += res.nfe;
    // Density of the bin = density * w^d: the discrete NLL adds -d ln w.
    for (const lp of res.logp) nlls.push(-lp - (w === undefined ? 0 : d * Math.log(w)));
    opts.onBatch?.(Math.min(n, start + batchSize), n);
  }
  const nll = nlls.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(nlls.reduce((a, b) => a + (b - nll) ** 2, 0) / (n - 1)) : NaN;
  const toBits = 1 / (d * Math.LN2);
  return { nll, nllStderr: sd / Math.sqrt(n), bitsPerDim: nll * toBits, bitsPerDimStderr: (sd / Math.sqrt(n)) * toBits, n, d, nfe };
}

/** bits/dim of an NLL in nats per example of d values. */
export function bitsPerDim(nllNats: number, d: number): number {
  if (!(Number.isInteger(d) && d >= 1)) throw new Error(`bitsPerDim: d must be a positive integer, got ${d}`);
  return nllNats / (d * Math.LN2);
}
