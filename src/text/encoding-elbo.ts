import type { NoiseSchedule } from "../core/schedule.js";
import type { Tensor } from "../core/tensor.js";
import type { EncodingProcess } from "../processes/encoding.js";
import type { CategoricalModel } from "./denoiser.js";
import { stratifiedNelbo, type NelboOptions, type NelboResult } from "./elbo.js";
import { expectedEmbedding } from "./encoding.js";

/**
 * The negative ELBO of the encoding model in bits per character: the
 * continuous-time Gaussian diffusion bound of VDM (Kingma et al. 2021) in
 * embedding space plus a decoder term, as Diffusion-LM (Li et al. 2022) and
 * Plaid (Gulrajani & Hashimoto 2023) report it. With z_t = a E(x0) + b eps,
 * SNR = a^2 / b^2, lambda = log SNR, and the model's mean
 * x_hat(z_t) = E[E(x0) | z_t] = sum_v q_theta(x0_i = v | z_t) E(v):
 *
 *   -log p(x0) <= KL(q(z_1 | x0) || N(0, b_1^2 I))                   prior: SNR_1 |E(x0)|^2 / 2
 *               + 1/2 int_{lambda_1}^{lambda_0} SNR |E(x0) - x_hat(z_lambda)|^2 d lambda   diffusion
 *               + E[-log q_theta(x0 | z_{t0})]                       decoder, at t0 = tMin
 *
 * (VDM's L_infinity with dSNR = SNR d lambda.) The diffusion integral is
 * estimated by importance sampling: lambda from a truncated logistic on
 * [lambda_c, lambda_0] (stratified), one eps each, weight 1 / density;
 * below lambda_c = max(lambda_1, lambdaFloor) the integrand is bounded
 * instead of sampled: x_hat lies in the convex hull of the embeddings, so
 * |E(x0_i) - x_hat_i| <= D, the largest distance between two embeddings,
 * and that part is at most (SNR_c - SNR_1) L D^2 / 2 (tiny: SNR_c = e^-20).
 * The decoder is the model itself at t0 (its per-position categorical).
 *
 * With the exact posterior the bound is tight up to the decoder's and the
 * prior's small gaps: it equals -log p(x0) (test/encoding.test.ts). Being a
 * bound on q_theta's own likelihood, it is >= the entropy of the data on
 * average for any model.
 */
export interface EncodingNelboOptions extends Omit<NelboOptions, "estimator"> {
  /** t0, where the decoder term is taken (default 1e-3). */
  tMin?: number;
  /** Below this log-SNR the diffusion integrand is bounded, not sampled (default -20). */
  lambdaFloor?: number;
  /**
   * The importance distribution of lambda: logistic with this location and
   * scale (defaults: log(8 / mean squared distance between embeddings),
   * where two tokens start to be told apart, and 2). Any choice is unbiased.
   */
  center?: number;
  scale?: number;
}

const logSnr = (s: NoiseSchedule, t: number) => 2 * (Math.log(s.a(t)) - Math.log(s.b(t)));

/** t with log SNR(t) = lambda, by bisection (log SNR decreases in t), rounded to float32 (the model's time). */
function timeOfLogSnr(s: NoiseSchedule, lambda: number, lo: number, hi: number): number {
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (logSnr(s, mid) > lambda) lo = mid;
    else hi = mid;
  }
  return Math.fround((lo + hi) / 2);
}

/**
 * The logistic distribution (location mu, scale s) truncated to [lo, hi]:
 * draw by the inverse CDF from u in (0, 1), and its density. Its tails
 * (e^-|lambda|/s) are no lighter than the diffusion integrand's
 * (SNR |E - x_hat|^2 ~ e^lambda below, e^lambda exp(-c e^lambda) above),
 * so for s >= 1 the importance weights stay bounded.
 */
function logisticOn(mu: number, s: number, lo: number, hi: number) {
  const cdf = (x: number) => 1 / (1 + Math.exp(-(x - mu) / s));
  const [a, b] = [cdf(lo), cdf(hi)];
  return {
    draw: (u: number) => {
      const p = a + (b - a) * u;
      return Math.min(hi, Math.max(lo, mu + s * Math.log(p / (1 - p))));
    },
    density: (x: number) => {
      const c = cdf(x);
      return (c * (1 - c)) / s / (b - a);
    },
  };
}

/** The largest and the mean squared distance between two different rows of the encoder. */
function distances(p: EncodingProcess): { max: number; meanSq: number } {
  const { vocab: V, dim: d, table } = p.encoder;
  let max = 0, total = 0;
  for (let v = 0; v < V; v++) {
    for (let w = v + 1; w < V; w++) {
      let sq = 0;
      for (let j = 0; j < d; j++) sq += (table[v * d + j] - table[w * d + j]) ** 2;
      max = Math.max(max, sq);
      total += sq;
    }
  }
  return { max: Math.sqrt(max), meanSq: total / ((V * (V - 1)) / 2) };
}

/**
 * Monte Carlo NELBO of the encoding model on held-out token rows [M, L].
 * `model` maps x_t [B, L, d] (with one t per row) to log-probabilities
 * [B, L, V]: a trained network through onVectors, or the exact oracle.
 */
export async function encodingNelbo(model: CategoricalModel, process: EncodingProcess, data: Tensor, opts: EncodingNelboOptions): Promise<NelboResult> {
  const L = data.shape[1];
  const { schedule } = process;
  const { vocab: V, dim: d } = process.encoder;
  if (model.vocab !== V) throw new Error(`encoding NELBO: the model predicts ${model.vocab} tokens, the encoder has ${V}`);
  const tMin = opts.tMin ?? 1e-3;
  const rng = opts.rng;
  if (!(tMin > 0 && tMin < 1)) throw new Error(`encoding NELBO: tMin must lie in (0, 1), got ${tMin}`);
  const lambda0 = logSnr(schedule, tMin);
  const lambda1 = logSnr(schedule, 1);
  const lambdaC = Math.max(lambda1, opts.lambdaFloor ?? -20);
  if (!(lambda0 > lambdaC)) throw new Error(`encoding NELBO: log SNR at tMin = ${tMin} is ${lambda0}, not above ${lambdaC}`);
  const tC = lambdaC > lambda1 ? timeOfLogSnr(schedule, lambdaC, tMin, 1) : 1;
  const { max: D, meanSq } = distances(process);
  const tail = 0.5 * (Math.exp(lambdaC) - Math.exp(lambda1)) * L * D * D;
  const snr1 = Math.exp(lambda1);
  const proposal = logisticOn(opts.center ?? Math.log(8 / meanSq), opts.scale ?? 2, lambdaC, lambda0);
  return stratifiedNelbo(data, opts, async (x0, u) => {
    const n = x0.shape[0];
    const e0 = process.embed(x0);
    const lambdas = Float64Array.from(u, (uj) => proposal.draw(uj));
    const ts = Float32Array.from(lambdas, (l) => timeOfLogSnr(schedule, l, tMin, tC));
    const zt = process.forward(x0, ts, process.noise(x0.shape, rng));
    const xhat = expectedEmbedding(await model.logProbs(zt, ts), [n, L], process.encoder);
    const t0 = new Float32Array(n).fill(tMin);
    const dec = await model.logProbs(process.forward(x0, t0, process.noise(x0.shape, rng)), t0);
    return Float64Array.from({ length: n }, (_, j) => {
      let sq = 0, prior = 0, nll = 0;
      for (let k = j * L * d; k < (j + 1) * L * d; k++) {
        sq += (e0.data[k] - xhat.data[k]) ** 2;
        prior += e0.data[k] ** 2;
      }
      for (let i = j * L; i < (j + 1) * L; i++) nll -= dec[i * V + x0.data[i]];
      // The sampled t is float32: weigh by the SNR actually used.
      const snr = schedule.a(ts[j]) ** 2 / schedule.b(ts[j]) ** 2;
      return (0.5 * snr * sq) / proposal.density(lambdas[j]) + tail + 0.5 * snr1 * prior + nll;
    });
  });
}
