import type { Schedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { stringAt } from "../oracles/enumerable.js";
import type { CategoricalModel } from "./denoiser.js";
import { M_MIN } from "./replacement-loss.js";
import { inverseSchedule, stratifiedNelbo, type NelboOptions, type NelboResult } from "./elbo.js";

/**
 * The negative ELBO of replacement diffusion ("uniform" variant), in
 * continuous time: D3PM's uniform-transition bound as T -> infinity
 * (Austin et al. 2021; in this form SEDD, Lou et al. 2024, Thm 3.6, and
 * UDLM, Schiff et al. 2024).
 *
 * Per position the replacement process has the marginals
 *   q_t(w | v) = alpha delta_wv + (1 - alpha) / V,   alpha = 1 - m(t),
 * which are those of the Markov chain jumping to a uniform token at rate
 * beta(t) = -alpha'/alpha (its transition matrix over [s, t] is
 * (alpha_t/alpha_s) I + (1 - alpha_t/alpha_s) 11^T / V). The bound is taken
 * for that chain (the sampler's r = 0 coupling has the same marginals but is
 * not Markov in the tokens alone). Its reverse rate from x_t to x_t with
 * position i set to w is beta/V times the ratio p_t(y) / p_t(x_t), which
 * for a factorised model with marginals pi_i(v) ≈ p(x0_i = v | x_t) is
 *   s_iw = sum_v pi_i(v) q_t(w | v) / q_t(x_t,i | v)
 *        = pi_i(x) c / (alpha + c) + pi_i(w) (alpha + c) / c + (1 - pi_i(x) - pi_i(w)),
 * with x = x_t,i, c = (1 - alpha) / V. Exact marginals give exact reverse
 * rates (only one position changes at a time). With
 * r_iw = q_t(w | x0_i) / q_t(x | x0_i), the true ratio given x0, SEDD's
 * diffusion-weighted denoising score entropy gives
 *   -log p(x0) <= int_0^1 beta(t)/V E_{x_t | x0} [ sum_i sum_{w != x_t,i} f(s_iw, r_iw) ] dt + KL(q_1(. | x0) || uniform),
 *   f(s, r) = s - r log s + r (log r - 1) = s - r - r log(s / r) >= 0.
 * Substituting alpha for t (beta dt = -d alpha / alpha) the integral is
 * schedule-free: int_{alpha(1)}^1 (1 / alpha) (1/V) E[...] d alpha.
 *
 * Near alpha = 1 the integrand is about sum_{w != x} pi_i(w) / (1 - alpha):
 * finite only if the model's other tokens vanish like 1 - alpha, which a
 * network does not do (nor the untrained, uniform one). So, as VDM and
 * Diffusion-LM do for Gaussian diffusion, the path is cut at a small level
 * m = mMin (default 1e-3) and closed by a decoder term,
 *   -log p(x0) <= E[-log q_theta(x0 | x_mMin)] + int_{alpha(1)}^{1 - mMin} ... + KL,
 * still a bound for any decoder. The integral is taken in u with
 * 1 - alpha = mMin R^u, log-uniform (see levelAt). The model is evaluated
 * at t = m^{-1}(1 - alpha). With the exact posterior the bound equals
 * -log p(x0) up to the decoder's O(mMin) gap (the factorised marginals at
 * x_mMin versus the joint posterior) for every x0
 * (test/replacement-elbo.test.ts).
 */
export interface ReplacementLike {
  readonly vocab: number;
  readonly schedule: Schedule;
  readonly variant?: string;
}

function check(process: ReplacementLike): void {
  if (process.variant !== undefined && process.variant !== "uniform") {
    // "different" has q_t(x0 | x0) = 1 - m < 1/V once m > (V-1)/V: no Markov chain of uniform jumps has those marginals.
    throw new Error(`replacement NELBO: defined for variant "uniform" (a Markov uniform-jump chain); "${process.variant}" has none`);
  }
}

/** (1/V) sum_i sum_{w != x_t,i} f(s_iw, r_iw) for one row: the integrand at alpha, without the 1/alpha. */
function scoreEntropy(logp: Float32Array, off: number, x0: ArrayLike<number>, xt: ArrayLike<number>, alpha: number, V: number): number {
  const L = x0.length;
  const c = (1 - alpha) / V;
  const stay = c / (alpha + c), jump = (alpha + c) / c;
  let total = 0;
  for (let i = 0; i < L; i++) {
    const x = xt[i], y = x0[i];
    const p = (v: number) => Math.exp(logp[(off + i) * V + v]);
    const px = p(x);
    for (let w = 0; w < V; w++) {
      if (w === x) continue;
      const pw = p(w);
      const s = px * stay + pw * jump + Math.max(0, 1 - px - pw);
      // True ratio given x0: x kept (x = y) -> c / (alpha + c); else w = y -> (alpha + c) / c, other w -> 1.
      const r = x === y ? stay : w === y ? jump : 1;
      total += s - r - r * Math.log(s / r);
    }
  }
  return total / V;
}

/** KL(q_1(. | x0) || uniform) for a row of length L when m(1) < 1 (0 when m(1) = 1). */
function priorKl(alpha1: number, V: number, L: number): number {
  if (alpha1 <= 0) return 0;
  const c = (1 - alpha1) / V;
  const self = alpha1 + c;
  return L * (self * Math.log(V * self) + (V - 1) * (c > 0 ? c * Math.log(V * c) : 0));
}

export interface ReplacementNelboOptions extends NelboOptions {
  /** The level m at which the decoder term is taken (default M_MIN = 1e-3, where the --weighting elbo loss starts too); the integral runs from there. */
  mMin?: number;
}

/**
 * The integration variable: 1 - alpha = mMin R^u, R = (1 - alpha(1)) / mMin,
 * log-uniform for u in (0, 1). The integrand grows like 1 / (1 - alpha)
 * towards alpha = 1 for a model whose probabilities have a floor, and this
 * Jacobian, d alpha = -(1 - alpha) ln R du, flattens it.
 */
function levelAt(u: number, mMin: number, alpha1: number): { alpha: number; jacobian: number } {
  const logR = Math.log((1 - alpha1) / mMin);
  const oneMinus = mMin * Math.exp(logR * u);
  return { alpha: 1 - oneMinus, jacobian: oneMinus * logR };
}

function checkLevels(process: ReplacementLike, mMin: number): number {
  check(process);
  const alpha1 = 1 - process.schedule.m(1);
  if (!(mMin > 0 && mMin < 1 - alpha1)) throw new Error(`replacement NELBO: mMin must lie in (0, m(1) = ${1 - alpha1}), got ${mMin}`);
  return alpha1;
}

/** q_t(x | x0) for one row at level alpha. */
function rowLikelihood(x: ArrayLike<number>, x0: ArrayLike<number>, alpha: number, V: number): number {
  let q = 1;
  for (let i = 0; i < x0.length; i++) q *= (x[i] === x0[i] ? alpha : 0) + (1 - alpha) / V;
  return q;
}

/** -sum_i log q_theta(x0_i | x): the decoder term for one row. */
function decoderNll(logp: Float32Array, off: number, x0: ArrayLike<number>, V: number): number {
  let nll = 0;
  for (let i = 0; i < x0.length; i++) nll -= logp[(off + i) * V + x0[i]];
  return nll;
}

/**
 * Monte Carlo NELBO of a categorical model on held-out sequences [M, L]:
 * per estimate one u (stratified) for the integral from m = mMin up to
 * m(1), one x_t, and one x at m = mMin for the decoder term
 * -log q_theta(x0 | x_mMin) (the bound starts there: below mMin the model
 * would have to make its other tokens vanish like m itself).
 */
export async function replacementNelbo(model: CategoricalModel, process: ReplacementLike, data: Tensor, opts: ReplacementNelboOptions): Promise<NelboResult> {
  const mMin = opts.mMin ?? M_MIN;
  const alpha1 = checkLevels(process, mMin);
  const L = data.shape[1];
  const V = process.vocab;
  if (model.vocab !== V) throw new Error(`replacement NELBO: the model predicts ${model.vocab} tokens, the process has ${V}`);
  const rng = opts.rng;
  const m = (t: number) => process.schedule.m(t);
  const tMin = inverseSchedule(m, mMin);
  /** x0 with each token replaced by a uniform one with probability `level`. */
  const corrupt = (x0: Tensor, level: (j: number) => number) => tensor(x0.shape, x0.data.map((v, i) => (rng.uniform() < level(Math.floor(i / L)) ? rng.int(V) : v)));
  return stratifiedNelbo(data, opts, async (x0, u) => {
    const n = x0.shape[0];
    const levels = Array.from(u, (uj) => levelAt(uj, mMin, alpha1));
    const xt = corrupt(x0, (j) => 1 - levels[j].alpha);
    const logp = await model.logProbs(xt, Float32Array.from(levels, (l) => inverseSchedule(m, 1 - l.alpha)));
    const dec = await model.logProbs(corrupt(x0, () => mMin), tMin);
    return Float64Array.from({ length: n }, (_, j) => {
      const row = x0.data.subarray(j * L, (j + 1) * L);
      const { alpha, jacobian } = levels[j];
      const g = scoreEntropy(logp, j * L, row, xt.data.subarray(j * L, (j + 1) * L), alpha, V);
      return (jacobian * g) / alpha + decoderNll(dec, j * L, row, V) + priorKl(alpha1, V, L);
    });
  });
}

/**
 * The same bound for one short row, with every expectation over x_t
 * enumerated (all V^L strings) and the integral by the midpoint rule in u
 * on `nodes` points.
 */
export async function replacementNelboQuadrature(model: CategoricalModel, process: ReplacementLike, x0: ArrayLike<number>, opts: { nodes?: number; mMin?: number } = {}): Promise<number> {
  const nodes = opts.nodes ?? 400;
  const mMin = opts.mMin ?? M_MIN;
  const alpha1 = checkLevels(process, mMin);
  const L = x0.length;
  const V = process.vocab;
  if (V ** L > 4096) throw new Error(`replacementNelboQuadrature: enumerates V^L = ${V}^${L} strings, too many`);
  const m = (t: number) => process.schedule.m(t);
  const all = Array.from({ length: V ** L }, (_, k) => stringAt(V, L, k));
  const xs = tensor([all.length, L], all.flat());
  const expect = (alpha: number, logp: Float32Array, f: (x: number[], j: number) => number) =>
    all.reduce((e, x, j) => e + rowLikelihood(x, x0, alpha, V) * f(x, j), 0);
  let total = 0;
  for (let k = 0; k < nodes; k++) {
    const { alpha, jacobian } = levelAt((k + 0.5) / nodes, mMin, alpha1);
    const logp = await model.logProbs(xs, inverseSchedule(m, 1 - alpha));
    total += (jacobian * expect(alpha, logp, (x, j) => scoreEntropy(logp, j * L, x0, x, alpha, V))) / alpha / nodes;
  }
  const dec = await model.logProbs(xs, inverseSchedule(m, mMin));
  return total + expect(1 - mMin, dec, (_x, j) => decoderNll(dec, j * L, x0, V)) + priorKl(alpha1, V, L);
}
