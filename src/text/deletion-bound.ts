import { padRows, rowTokens } from "../core/padded.js";
import type { Rng } from "../core/rng.js";
import type { Tensor } from "../core/tensor.js";
import { gapCounts } from "../processes/alignment.js";

/**
 * An upper bound on -log p_theta(x0) for deletion diffusion, in the
 * continuous-time form of SEDD's "diffusion weighted denoising score
 * entropy" (and DID's for deletion), written for this library's insertion
 * model. This derivation is this project's extension of the seed's framework.
 *
 * Reverse rates. Deleting each token at rate m'/(1-m) makes the reverse
 * chain insert: the true rate of inserting token v into gap g of x_t, given
 * x0, is (m'/m) rho*(g, v) with
 *   rho*(g, v) = N(x_t + v at g, x0) / N(x_t, x0)
 *              = E_{uniform embedding}[#tokens v of x0 left out in gap g]
 * (alignment.ts, gapCounts). The model's rate is (m'/m) rho(g, v) with
 * rho(g, v) = sum_j q(c_g > j) q(token_{g,j} = v), the expected insertions
 * of the count/token model (insertion.ts, GapModel.rates). This is the
 * small-step limit of sampling with r = 0 (each missing token of x0_hat
 * inserted with probability (m(t) - m(s)) / m(t)).
 *
 * The bound (prior term 0: x_1 is empty when m(1) = 1):
 *   B(x0) = int_0^1 (m'/m) E_{x_t | x0} [ sum_{g,v} rho - rho* + rho* log(rho* / rho) ] dt.
 * With m as the variable (the model sees t only through m, so B does not
 * depend on the schedule) and j = |x0| - |x_t| deleted tokens, whose set
 * is uniform given j, and int m^(j-1) (1-m)^(n-j) C(n, j) dm = 1/j:
 *   B(x0) = int_0^1 (1-m)^n / m  sum_{g,v} rho(x0; m) dm                      (nothing deleted)
 *         + sum_{j=1}^{n} (1/j) E_{m ~ Beta(j, n-j+1)} E_{|D| = j} [ F(x0 \ D, m) ].
 * The m-integrals are estimated by Monte Carlo, m ~ Beta(1, n+1) for the
 * first term (weight 1 / (m (n+1))) and m ~ Beta(j, n-j+1) (the j-th
 * smallest of n uniforms) for the others, one network call per (x0, j);
 * or, for models cheap to call (the oracle in the tests), by Gauss-Legendre
 * quadrature in s = sqrt(m). The sets D are random (or all of them, for
 * tests). With the exact posterior B(x0) = -log p(x0) for every x0 (tested
 * with the enumerable oracle); for a model it is >= -log p_theta(x0).
 */

/** Expected insertions at one level m: rho(g, v) and their total over all gaps and tokens. */
export interface Rate {
  total: number;
  at(g: number, v: number): number;
}

/**
 * A model of the reverse rates: one Rate per row of a padded batch x_t, row
 * b at level m[b]; `gaps[b]` lists the gaps whose rates `at` will be asked
 * for (a network fetches their token distributions; the total is always there).
 */
export interface RateModel {
  ratesFor(xt: Tensor, m: Float64Array, gaps: number[][]): Promise<Rate[]> | Rate[];
}

export interface BoundOptions {
  rng: Rng;
  /** Random deletion orders (and levels m) per row (default 1). */
  draws?: number;
  /** Integrate over m by Gauss-Legendre quadrature with this many nodes instead of Monte Carlo. */
  nodes?: number;
  /** Rows of x_t per model call (default 256). */
  batch?: number;
  /** Every deletion set instead of random ones, weighted 1 / C(n, j) (short rows only; for tests). */
  exhaustive?: boolean;
}

export interface BoundResult {
  /** Mean bound per sequence, in nats. */
  natsPerSeq: number;
  /** Total bound over total characters, in bits. */
  bitsPerChar: number;
  /** Standard error of bitsPerChar (ratio estimator, over rows). */
  stderrBits: number;
  /** The bound of each row, in nats. */
  perRow: Float64Array;
  characters: number;
}

/** Gauss-Legendre nodes and weights on [0, 1]. */
export function gaussLegendre(n: number): { x: Float64Array; w: Float64Array } {
  const x = new Float64Array(n);
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let z = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 0;
    for (let it = 0; it < 100; it++) {
      let p0 = 1;
      let p1 = 0;
      for (let k = 1; k <= n; k++) [p0, p1] = [((2 * k - 1) * z * p0 - (k - 1) * p1) / k, p0];
      dp = (n * (z * p0 - p1)) / (z * z - 1);
      const dz = p0 / dp;
      z -= dz;
      if (Math.abs(dz) < 1e-15) break;
    }
    x[i] = (1 - z) / 2;
    w[i] = 1 / ((1 - z * z) * dp * dp);
  }
  return { x, w };
}

const logFactorial = (() => {
  const t = [0];
  return (n: number) => {
    for (let k = t.length; k <= n; k++) t.push(t[k - 1] + Math.log(k));
    return t[n];
  };
})();

/** x0 \ D for D_j = the first j positions of a random order, j = 0..n (each D_j uniform of size j). */
function deletionLadder(x0: ArrayLike<number>, rng: Rng): { j: number; xt: number[]; weight: number }[] {
  const order = rng.permutation(x0.length);
  return Array.from({ length: x0.length + 1 }, (_, j) => {
    const gone = new Set(order.subarray(0, j));
    return { j, xt: Array.from(x0).filter((_, i) => !gone.has(i)), weight: 1 };
  });
}

/** x0 \ D for every set D, weighted 1 / C(n, |D|). */
function allDeletions(x0: ArrayLike<number>): { j: number; xt: number[]; weight: number }[] {
  const n = x0.length;
  if (n > 16) throw new Error(`deletionBound: exhaustive enumerates 2^n deletion sets, n = ${n} is too long`);
  const out = [];
  for (let set = 0; set < 1 << n; set++) {
    const xt = Array.from(x0).filter((_, i) => !(set & (1 << i)));
    const j = n - xt.length;
    out.push({ j, xt, weight: Math.exp(logFactorial(j) + logFactorial(n - j) - logFactorial(n)) });
  }
  return out;
}

/** One evaluation: x_t = x0 \ D (|D| = j) at level m, contributing weight * f(rate). */
interface Point {
  row: number;
  x0: ArrayLike<number>;
  xt: number[];
  j: number;
  m: number;
  weight: number;
}

/** The j-th smallest of n uniforms: a draw from Beta(j, n - j + 1). */
function orderStatistic(n: number, j: number, rng: Rng): number {
  const u = Array.from({ length: n }, () => rng.uniform()).sort((a, b) => a - b);
  return u[j - 1];
}

/**
 * Where to evaluate the integrand for one x_t and with what weight, so
 * that sum(weight * f(m)) estimates the j-term: Gauss-Legendre nodes in
 * s = sqrt(m) with the density folded in, or one Monte Carlo level.
 */
function levels(n: number, j: number, rng: Rng, gl: { x: Float64Array; w: Float64Array } | null): { m: number; weight: number }[] {
  if (!gl) {
    if (j === 0) {
      const m = Math.max(1e-12, 1 - Math.pow(rng.uniform(), 1 / (n + 1))); // Beta(1, n + 1)
      return [{ m, weight: 1 / (m * (n + 1)) }];
    }
    return [{ m: Math.max(1e-12, orderStatistic(n, j, rng)), weight: 1 / j }];
  }
  const logBeta = j > 0 ? logFactorial(j - 1) + logFactorial(n - j) - logFactorial(n) : 0;
  return Array.from(gl.x, (s, q) => {
    const m = s * s;
    // j = 0: (1-m)^n / m dm = 2 (1-m)^n / s ds; j > 0: Beta(j, n-j+1) density / j, dm = 2 s ds.
    const weight = j === 0 ? (gl.w[q] * 2 * (1 - m) ** n) / s : (gl.w[q] * 2 * s * Math.exp((j - 1) * Math.log(m) + (n - j) * Math.log1p(-m) - logBeta)) / j;
    return { m, weight };
  });
}

/** B(x0) for each row of a padded batch (see the file comment). */
export async function deletionBound(model: RateModel, data: Tensor, vocab: number, opts: BoundOptions): Promise<BoundResult> {
  const draws = opts.draws ?? 1;
  const gl = opts.nodes ? gaussLegendre(opts.nodes) : null;
  const batch = opts.batch ?? 256;
  const [M, L] = data.shape;
  const points: Point[] = [];
  for (let row = 0; row < M; row++) {
    const x0 = rowTokens(data, row, vocab);
    const sets = opts.exhaustive ? allDeletions(x0) : Array.from({ length: draws }, () => deletionLadder(x0, opts.rng).map((d) => ({ ...d, weight: 1 / draws }))).flat();
    for (const d of sets) for (const lv of levels(x0.length, d.j, opts.rng, gl)) points.push({ row, x0, xt: d.xt, j: d.j, m: lv.m, weight: d.weight * lv.weight });
  }
  const perRow = new Float64Array(M);
  for (let start = 0; start < points.length; start += batch) {
    const part = points.slice(start, start + batch);
    const targets = part.map((p) => (p.j === 0 ? new Float64Array(0) : gapCounts(p.x0, p.xt, vocab)));
    const gaps = targets.map((r) => [...new Set(Array.from(r.keys()).filter((c) => r[c] > 0).map((c) => Math.floor(c / vocab)))]);
    const rates = await model.ratesFor(padRows(part.map((p) => p.xt), L, vocab), Float64Array.from(part, (p) => p.m), gaps);
    part.forEach((p, i) => (perRow[p.row] += p.weight * integrand(p.j, targets[i], rates[i], vocab)));
  }
  const lengths = Array.from({ length: M }, (_, b) => rowTokens(data, b, vocab).length);
  const characters = lengths.reduce((a, b) => a + b, 0);
  const total = perRow.reduce((a, b) => a + b, 0);
  const ratio = total / Math.max(1, characters);
  // Delta-method standard error of sum(B) / sum(n) over rows.
  let v = 0;
  for (let b = 0; b < M; b++) v += (perRow[b] - ratio * lengths[b]) ** 2;
  const se = Math.sqrt(v / Math.max(1, M * (M - 1))) / Math.max(1e-12, characters / M);
  return { natsPerSeq: total / M, bitsPerChar: ratio / Math.LN2, stderrBits: se / Math.LN2, perRow, characters };
}

/**
 * The integrand at one point: rho_total when nothing is deleted (j = 0),
 * else F = sum_{g,v} rho - rho* + rho* log(rho* / rho), rho* = target.
 */
function integrand(j: number, target: Float64Array, rate: Rate, V: number): number {
  if (j === 0) return rate.total;
  let f = rate.total - j;
  target.forEach((r, c) => {
    if (r > 0) f += r * Math.log(r / Math.max(1e-300, rate.at(Math.floor(c / V), c % V)));
  });
  return f;
}
