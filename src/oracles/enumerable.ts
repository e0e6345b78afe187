import type { Denoiser } from "../core/denoiser.js";
import { timeAt, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import { itemSize, tensor, type Tensor } from "../core/tensor.js";
import type { TokenProcess } from "../processes/tokens.js";

/**
 * What the oracle needs of a process: p(x_t | x0) for one row, as a
 * probability (token processes) or a log-density (x_t real, e.g. encoding).
 */
export type RowLikelihood =
  | Pick<TokenProcess<unknown>, "name" | "likelihood">
  | { readonly name: string; logLikelihood(x0: ArrayLike<number>, xt: ArrayLike<number>, t: number): number };

function logLikelihoodOf(process: RowLikelihood, x0: ArrayLike<number>, xt: ArrayLike<number>, t: number): number {
  return "logLikelihood" in process ? process.logLikelihood(x0, xt, t) : Math.log(process.likelihood(x0, xt, t));
}

/**
 * A distribution over ALL strings of length L over V symbols (V^L of them,
 * e.g. 27 for L = V = 3), small enough to enumerate. Its posterior under any
 * token process is exact:
 *   p(x0 | x_t) ∝ p(x0) p(x_t | x0),
 * with p(x_t | x0) the process's own likelihood. Used as the Denoiser in the
 * exactness tests (DESIGN.md "Exactness").
 */
export interface Enumerable {
  V: number;
  L: number;
  /** probs[index(x)], summing to 1; index(x) = sum_i x_i V^(L-1-i). */
  probs: Float64Array;
}

export function enumerable(V: number, L: number, weights: ArrayLike<number>): Enumerable {
  const n = V ** L;
  if (weights.length !== n) throw new Error(`enumerable: ${V}^${L} = ${n} strings need ${n} weights, got ${weights.length}`);
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (!(weights[i] >= 0)) throw new Error(`enumerable: weight ${i} is ${weights[i]}, weights must be >= 0`);
    total += weights[i];
  }
  if (!(total > 0)) throw new Error("enumerable: the weights sum to 0");
  return { V, L, probs: Float64Array.from(weights, (w) => w / total) };
}

/**
 * The test distribution: strings of length 3 over 3 symbols, non-uniform and
 * correlated across positions (neighbours tend to repeat, symbol 0 is common
 * at the start), probabilities from about 0.003 to 0.13.
 */
export function testStrings(): Enumerable {
  const V = 3;
  const L = 3;
  const w = new Float64Array(V ** L);
  for (let i = 0; i < w.length; i++) {
    const x = stringAt(V, L, i);
    w[i] = Math.exp(1.2 * Number(x[0] === x[1]) + 0.8 * Number(x[1] === x[2]) - 0.7 * x[0] + 0.3 * x[2] * x[1] - 0.5 * Number(x[0] === 2 && x[2] === 0));
  }
  return enumerable(V, L, w);
}

/** The string with a given index (most significant symbol first). */
export function stringAt(V: number, L: number, index: number): number[] {
  const x = new Array<number>(L);
  for (let i = L - 1; i >= 0; i--) {
    x[i] = index % V;
    index = Math.floor(index / V);
  }
  return x;
}

export function indexOf(V: number, x: ArrayLike<number>, offset = 0, L = x.length): number {
  let idx = 0;
  for (let i = 0; i < L; i++) idx = idx * V + x[offset + i];
  return idx;
}

export function sampleEnumerable(dist: Enumerable, n: number, rng: Rng): Tensor {
  const out = new Float32Array(n * dist.L);
  for (let b = 0; b < n; b++) out.set(stringAt(dist.V, dist.L, rng.categorical(dist.probs)), b * dist.L);
  return tensor([n, dist.L], out);
}

/** Counts of each string in a batch [n, L]. */
export function stringCounts(dist: Enumerable, x: Tensor): Float64Array {
  const counts = new Float64Array(dist.probs.length);
  for (let b = 0; b < x.shape[0]; b++) counts[indexOf(dist.V, x.data, b * dist.L, dist.L)]++;
  return counts;
}

/** p(x0 | x_t) for one row x_t, over all V^L strings (in log space, so densities cannot underflow). */
export function exactPosterior(dist: Enumerable, process: RowLikelihood, xt: ArrayLike<number>, t: number): Float64Array {
  const logs = new Float64Array(dist.probs.length).fill(-Infinity);
  let max = -Infinity;
  for (let i = 0; i < logs.length; i++) {
    if (dist.probs[i] === 0) continue;
    logs[i] = Math.log(dist.probs[i]) + logLikelihoodOf(process, stringAt(dist.V, dist.L, i), xt, t);
    max = Math.max(max, logs[i]);
  }
  if (!(max > -Infinity)) throw new Error(`exactPosterior: x_t = [${Array.from(xt).join(", ")}] has probability 0 at t = ${t} under ${process.name}`);
  const post = logs.map((l) => Math.exp(l - max));
  const total = post.reduce((a, b) => a + b, 0);
  for (let i = 0; i < post.length; i++) post[i] /= total;
  return post;
}

/**
 * The exact denoiser: x0_hat drawn from the joint posterior p(x0 | x_t) (not
 * position by position), plus the per-position marginals p(x0_i | x_t),
 * [B, L, V], which is what a factorised network predicts (for the ELBO).
 * A row of x_t is whatever the process makes of a row of x0: L tokens, or
 * L vectors (encoding); x0_hat is always token ids [B, L].
 */
export function enumerableDenoiser(
  dist: Enumerable,
  process: RowLikelihood,
): Denoiser & { vocab: number; probs(xt: Tensor, t: Time): Float32Array; logProbs(xt: Tensor, t: Time): Float32Array } {
  const { V, L } = dist;
  const row = (xt: Tensor, b: number) => xt.data.subarray(b * itemSize(xt), (b + 1) * itemSize(xt));
  return {
    vocab: V,
    sample(xt: Tensor, t: number, rng: Rng): Tensor {
      const B = xt.shape[0];
      const out = new Float32Array(B * L);
      for (let b = 0; b < B; b++) {
        const post = exactPosterior(dist, process, row(xt, b), t);
        out.set(stringAt(V, L, rng.categorical(post)), b * L);
      }
      return tensor([B, L], out);
    },
    probs(xt: Tensor, t: Time): Float32Array {
      const B = xt.shape[0];
      const out = new Float32Array(B * L * V);
      for (let b = 0; b < B; b++) {
        const post = exactPosterior(dist, process, row(xt, b), timeAt(t, b));
        for (let s = 0; s < post.length; s++) {
          const x = stringAt(V, L, s);
          for (let i = 0; i < L; i++) out[(b * L + i) * V + x[i]] += post[s];
        }
      }
      return out;
    },
    logProbs(xt: Tensor, t: Time): Float32Array {
      return this.probs(xt, t).map(Math.log);
    },
  };
}

/** E[-log p(x0)] in nats: the best possible negative log-likelihood. */
export function entropy(dist: Enumerable): number {
  let h = 0;
  for (const p of dist.probs) if (p > 0) h -= p * Math.log(p);
  return h;
}

// ---- Goodness of fit -------------------------------------------------------

export interface ChiSquare {
  statistic: number;
  df: number;
  pValue: number;
}

/** Pearson's chi-square of observed counts against probabilities (cells with p = 0 must be empty). */
export function chiSquareTest(counts: ArrayLike<number>, probs: ArrayLike<number>): ChiSquare {
  let n = 0;
  for (let i = 0; i < counts.length; i++) n += counts[i];
  let stat = 0;
  let cells = 0;
  for (let i = 0; i < counts.length; i++) {
    if (probs[i] === 0) {
      if (counts[i] > 0) return { statistic: Infinity, df: cells, pValue: 0 };
      continue;
    }
    const e = n * probs[i];
    stat += (counts[i] - e) ** 2 / e;
    cells++;
  }
  const df = cells - 1;
  return { statistic: stat, df, pValue: chiSquareSurvival(stat, df) };
}

/** Two-sample chi-square (homogeneity) of two count vectors over the same cells. */
export function twoSampleChiSquare(a: ArrayLike<number>, b: ArrayLike<number>): ChiSquare {
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    na += a[i];
    nb += b[i];
  }
  let stat = 0;
  let cells = 0;
  for (let i = 0; i < a.length; i++) {
    const tot = a[i] + b[i];
    if (tot === 0) continue;
    const ea = (tot * na) / (na + nb);
    const eb = (tot * nb) / (na + nb);
    stat += (a[i] - ea) ** 2 / ea + (b[i] - eb) ** 2 / eb;
    cells++;
  }
  const df = Math.max(1, cells - 1);
  return { statistic: stat, df, pValue: chiSquareSurvival(stat, df) };
}

/** P(X > x) for X ~ chi-square(df): the regularised upper incomplete gamma Q(df/2, x/2). */
export function chiSquareSurvival(x: number, df: number): number {
  if (!(x > 0)) return 1;
  if (!Number.isFinite(x)) return 0;
  return gammaQ(df / 2, x / 2);
}

function logGamma(z: number): number {
  // Lanczos approximation (g = 7, n = 9), relative error ~1e-15.
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61503916999185, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  z -= 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularised upper incomplete gamma Q(a, x) (series below a + 1, continued fraction above). */
function gammaQ(a: number, x: number): number {
  const lg = logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 1000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - lg);
  }
  // Lentz's continued fraction.
  let b = x + 1 - a;
  let c = 1 / 1e-300;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < 1e-300) d = 1e-300;
    c = b + an / c;
    if (Math.abs(c) < 1e-300) c = 1e-300;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - lg) * h;
}
