import { defineProcess, marginalPrior, timeAt, type Process, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { gatherBatch, tensor, type Tensor } from "../core/tensor.js";
import { gaussianKernel, gaussianNoise, rowwise } from "./gaussian.js";

/**
 * Blur processes (DESIGN.md section 3, "Blur"): F_t(x0, eps) = B_t(x0) + sigma eps
 * on images [B, C, H, W], where B_t is a linear, separable operator
 *   B_t(X) = A_H(t) X A_W(t)^T        (per image, per channel)
 * with B_0 the identity and B_1 keeping only the mean of each channel of
 * each image. Posterior noise is the point (x_t - B_t(x0)) / sigma, the
 * kernel is the Gaussian one, and since B_1 keeps the mean colour the prior
 * is data-dependent: x_1 = F_1(x0, eps) for random training x0, exactly p(x_1).
 *
 * sigma = 0 (pure Cold Diffusion) has no posterior noise, so sigma must be
 * positive; "cold" uses a tiny sigma (the r = 0 step does not depend on it,
 * sigma cancels), "hot" a visible one that also gives sample diversity.
 *
 * With a noise schedule instead of sigma (blurring diffusion, Hoogeboom &
 * Salimans 2023), F_t(x0, eps) = a(t) B_t(x0) + b(t) eps: the Gaussian
 * process with a blur on its signal, so x_1 is noise (a VP schedule) and
 * the diversity comes from it rather than from a small sigma; posterior
 * noise (x_t - a(t) B_t(x0)) / b(t).
 */
export const COLD_SIGMA = 1e-3;
export const HOT_SIGMA = 0.05;

/** A linear blur: the two 1-D matrices (row-major n x n, float64) at time t for an H x W image. */
export interface SeparableBlur {
  readonly name: string;
  matrices(t: number, h: number, w: number): { ah: Float64Array; aw: Float64Array };
}

/** B_t(x) for a batch, with one t per row (or one for all). Matrices are computed once per distinct t. */
export function applyBlur(op: SeparableBlur, x: Tensor, t: Time): Tensor {
  if (x.shape.length !== 4) throw new Error(`${op.name}: expects images [B, C, H, W], got shape [${x.shape.join(", ")}]`);
  const [B, C, H, W] = x.shape;
  const out = new Float32Array(x.data.length);
  const cache = new Map<number, { ah: Float64Array; aw: Float64Array }>();
  const tmp = new Float64Array(H * W);
  for (let b = 0; b < B; b++) {
    const tb = timeAt(t, b);
    let m = cache.get(tb);
    if (!m) cache.set(tb, (m = op.matrices(tb, H, W)));
    const { ah, aw } = m;
    for (let c = 0; c < C; c++) {
      const base = (b * C + c) * H * W;
      // tmp = X aw^T, then out = ah tmp.
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          let s = 0;
          for (let k = 0; k < W; k++) s += x.data[base + i * W + k] * aw[j * W + k];
          tmp[i * W + j] = s;
        }
      }
      for (let i = 0; i < H; i++) {
        for (let j = 0; j < W; j++) {
          let s = 0;
          for (let k = 0; k < H; k++) s += ah[i * H + k] * tmp[k * W + j];
          out[base + i * W + j] = s;
        }
      }
    }
  }
  return tensor(x.shape, out);
}

/**
 * The 1-D Gaussian blur of std `sigma` pixels with the symmetric (half-sample,
 * "dcba|abcd") boundary, with the kernel folded exactly (every reflection
 * counted), so it is the same as blurring the image's infinite mirrored
 * tiling. With P(d) = sum_m g(d - 2 n m), g(d) = exp(-d^2 / (2 sigma^2)):
 *   A[i, j] = (P(i - j) + P(i + j + 1)) / sum_{d=0}^{2n-1} P(d).
 * A is symmetric with unit row sums, so it keeps the mean; as sigma grows it
 * tends to the all-1/n matrix (mode k of the mirrored tiling is damped by
 * about exp(-(pi k sigma / n)^2 / 2): at sigma = 3n this is below 1e-19).
 * sigma = 0 is the identity.
 */
export function gaussianBlurMatrix(n: number, sigma: number): Float64Array {
  if (!(sigma >= 0)) throw new Error(`gaussianBlurMatrix: sigma must be >= 0, got ${sigma}`);
  const a = new Float64Array(n * n);
  if (sigma === 0) {
    for (let i = 0; i < n; i++) a[i * n + i] = 1;
    return a;
  }
  const period = 2 * n;
  const reach = Math.ceil((10 * sigma) / period) + 1;
  const P = new Float64Array(period);
  for (let d = 0; d < period; d++) {
    let s = 0;
    for (let m = -reach; m <= reach; m++) {
      const x = d - period * m;
      s += Math.exp(-(x * x) / (2 * sigma * sigma));
    }
    P[d] = s;
  }
  const Z = P.reduce((u, v) => u + v, 0);
  const mod = (d: number) => ((d % period) + period) % period;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = (P[mod(i - j)] + P[mod(i + j + 1)]) / Z;
  return a;
}

/**
 * Blur width in pixels: sigma(t) = s0 ((1 + smax / s0)^t - 1), geometric growth
 * from sigma(0) = 0 to sigma(1) = smax (s0 sets where the growth starts).
 */
export function blurWidth(t: number, sMax: number, s0 = 0.5): number {
  const tc = Math.min(Math.max(t, 0), 1);
  return s0 * ((1 + sMax / s0) ** tc - 1);
}

/** Gaussian blur with sigma(t) from blurWidth, sMax = 3 max(H, W) by default (B_1 = mean to float precision). */
export function gaussianBlurOperator(opts: { sMax?: number; s0?: number } = {}): SeparableBlur {
  return {
    name: "gaussian-blur",
    matrices(t, h, w) {
      const sMax = opts.sMax ?? 3 * Math.max(h, w);
      const s = blurWidth(t, sMax, opts.s0);
      return { ah: gaussianBlurMatrix(h, s), aw: w === h ? gaussianBlurMatrix(h, s) : gaussianBlurMatrix(w, s) };
    },
  };
}

export interface BlurOptions {
  /** Noise std added after the blur (default COLD_SIGMA). */
  sigma?: number;
  /** A noise schedule in place of sigma: F_t = a(t) B_t(x0) + b(t) eps. */
  noiseSchedule?: NoiseSchedule;
  /** Training images [N, C, H, W]: the prior draws F_1 of random rows (exact p(x_1)). */
  data?: Tensor;
}

export interface BlurProcess extends Process<Tensor, Tensor> {
  readonly operator: SeparableBlur;
  /** The constant noise std (when there is no noise schedule). */
  readonly sigma: number;
  readonly noiseSchedule?: NoiseSchedule;
  /** B_t(x0) without noise. */
  blur(x0: Tensor, t: Time): Tensor;
}

/** A blur process from any separable linear operator (the Gaussian blur here, heat dissipation in heat.ts). */
export function blurLikeProcess(name: string, op: SeparableBlur, opts: BlurOptions = {}): BlurProcess {
  const { noiseSchedule: noise, data } = opts;
  if (noise && opts.sigma !== undefined) throw new Error(`${name}: give sigma or a noise schedule, not both`);
  const sigma = opts.sigma ?? COLD_SIGMA;
  if (!(sigma > 0 && Number.isFinite(sigma))) {
    throw new Error(`${name}: sigma must be a positive number (use a tiny one, e.g. ${COLD_SIGMA}, for cold diffusion), got ${sigma}`);
  }
  // x_t = a B_t(x0) + b eps: a = 1, b = sigma without a schedule.
  const scales = (t: number): [number, number] => (noise ? [noise.a(t), noise.b(t)] : [1, sigma]);
  const blur = (x0: Tensor, t: Time) => applyBlur(op, x0, t);
  const forward = (x0: Tensor, t: Time, eps: Tensor): Tensor => rowwise(blur(x0, t), eps, t, scales);
  const prior = data
    ? marginalPrior<Tensor, Tensor>(
        { noise: gaussianNoise, forward },
        (n, rng) => gatherBatch(data, Array.from({ length: n }, () => rng.int(data.shape[0]))),
        (x) => x.shape,
      )
    : () => {
        throw new Error(`${name}: the prior is data-dependent (B_1 keeps the mean colour); pass training data to the process, or give the sampler a start x1`);
      };
  return {
    ...defineProcess<Tensor, Tensor>({
      name: noise ? `${name}(noise=${noise.name})` : `${name}(sigma=${sigma})`,
      time: { kind: "continuous" },
      noise: gaussianNoise,
      forward,
      posteriorNoise: (x0, xt, t) =>
        rowwise(xt, blur(x0, t), t, (s) => {
          const [a, b] = scales(s);
          return [1 / b, -a / b];
        }),
      kernel: gaussianKernel,
      prior: (shape: readonly number[], rng: Rng) => {
        if (data && shape.slice(1).join() !== data.shape.slice(1).join()) {
          throw new Error(`${name}: prior asked for shape [${shape.join(", ")}] but the data are [${data.shape.slice(1).join(", ")}] images`);
        }
        return prior(shape, rng);
      },
    }),
    operator: op,
    sigma,
    ...(noise ? { noiseSchedule: noise } : {}),
    blur,
  };
}

/** Gaussian blur diffusion (Cold Diffusion's deblurring, Bansal et al. 2022), cold or hot. */
export function blurProcess(opts: BlurOptions & { sMax?: number; s0?: number } = {}): BlurProcess {
  return blurLikeProcess("blur", gaussianBlurOperator(opts), opts);
}
