import type { Rng } from "../core/rng.js";

/**
 * Embeddings of a subsequence y (length k) in a sequence x (length n): the
 * increasing position lists p_0 < ... < p_{k-1} with x[p_j] = y[j]. Under
 * deletion, given x0 = x and x_t = y, the kept positions are one embedding,
 * and every embedding is equally likely (each has probability
 * m^(n-k) (1-m)^k), so the posterior noise needs a uniform embedding.
 *
 * Counting (DESIGN.md section 3), with N(i, j) the number of embeddings of
 * y[j:] in x[i:]:
 *   N(i, j) = N(i+1, j) + [x_i = y_j] N(i+1, j+1),   N(i, k) = 1,   N(n, j < k) = 0.
 * Kept in log space (the counts reach C(n, k), which overflows for long
 * strings); O(n k) time and memory.
 *
 * `fixed(token)` marks tokens that are never deleted (the known characters
 * of infilling): such a position of x cannot be skipped.
 */

export type FixedToken = (token: number) => boolean;
const never: FixedToken = () => false;

/** log(exp(a) + exp(b)), exact for -Infinity arguments. */
function logAdd(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  return a > b ? a + Math.log1p(Math.exp(b - a)) : b + Math.log1p(Math.exp(a - b));
}

/** log N(i, j) for all 0 <= i <= n, 0 <= j <= k, as a table with row stride k + 1. */
export function suffixLogCounts(x: ArrayLike<number>, y: ArrayLike<number>, fixed: FixedToken = never): Float64Array {
  const n = x.length;
  const k = y.length;
  const w = k + 1;
  const N = new Float64Array((n + 1) * w).fill(-Infinity);
  N[n * w + k] = 0;
  for (let i = n - 1; i >= 0; i--) {
    const skip = fixed(x[i]) ? -Infinity : 0;
    for (let j = 0; j <= k; j++) {
      const rest = N[(i + 1) * w + j] + skip;
      N[i * w + j] = j < k && x[i] === y[j] ? logAdd(rest, N[(i + 1) * w + j + 1]) : rest;
    }
  }
  return N;
}

/** log P(i, j): the embeddings of y[:j] in x[:i] (the mirror recursion, for gap statistics). */
export function prefixLogCounts(x: ArrayLike<number>, y: ArrayLike<number>, fixed: FixedToken = never): Float64Array {
  const n = x.length;
  const k = y.length;
  const w = k + 1;
  const P = new Float64Array((n + 1) * w).fill(-Infinity);
  P[0] = 0;
  for (let i = 1; i <= n; i++) {
    const skip = fixed(x[i - 1]) ? -Infinity : 0;
    for (let j = 0; j <= k; j++) {
      const rest = P[(i - 1) * w + j] + skip;
      P[i * w + j] = j > 0 && x[i - 1] === y[j - 1] ? logAdd(rest, P[(i - 1) * w + j - 1]) : rest;
    }
  }
  return P;
}

/** log of the number of embeddings of y in x (-Infinity when y is not a subsequence of x). */
export function logEmbeddings(x: ArrayLike<number>, y: ArrayLike<number>, fixed: FixedToken = never): number {
  return suffixLogCounts(x, y, fixed)[0];
}

/** Show a short id sequence for error messages. */
const show = (s: ArrayLike<number>, decode?: (ids: ArrayLike<number>) => string) =>
  decode ? JSON.stringify(decode(s)) : `[${Array.from(s).join(", ")}]`;

/**
 * A uniformly random embedding of y in x: the matched positions of x, in
 * order. Walks i = 0..n-1 and matches x_i to y_j with probability
 * [x_i = y_j] N(i+1, j+1) / N(i, j). Throws, naming both sequences, when
 * y is not a subsequence of x.
 */
export function sampleEmbedding(x: ArrayLike<number>, y: ArrayLike<number>, rng: Rng, fixed: FixedToken = never, decode?: (ids: ArrayLike<number>) => string): Int32Array {
  const N = suffixLogCounts(x, y, fixed);
  const k = y.length;
  const w = k + 1;
  if (N[0] === -Infinity) {
    const why = logEmbeddings(x, y) === -Infinity ? "it is not a subsequence" : "it is a subsequence, but every embedding skips a fixed token";
    throw new Error(`alignment: x_t = ${show(y, decode)} cannot be embedded in x0 = ${show(x, decode)}: ${why}`);
  }
  const out = new Int32Array(k);
  let j = 0;
  for (let i = 0; i < x.length && j < k; i++) {
    if (x[i] !== y[j]) continue;
    const pMatch = Math.exp(N[(i + 1) * w + j + 1] - N[i * w + j]);
    if (rng.uniform() < pMatch) out[j++] = i;
  }
  return out;
}

/**
 * The expected number of positions of x, left out of a uniform embedding of
 * y, that hold token v and lie in gap g of y (g = 0 before y_0, g = k after
 * y_{k-1}): rho(g, v), returned as [(k + 1) * V]. Position i is left out in
 * gap g for P(i, g) N(i+1, g) of the N(0, 0) embeddings. Under deletion
 * these are the true insertion rates (times m'/m) of the reverse process.
 */
export function gapCounts(x: ArrayLike<number>, y: ArrayLike<number>, V: number, fixed: FixedToken = never): Float64Array {
  const S = suffixLogCounts(x, y, fixed);
  const P = prefixLogCounts(x, y, fixed);
  const k = y.length;
  const w = k + 1;
  const total = S[0];
  if (total === -Infinity) throw new Error(`alignment: x_t = ${show(y)} cannot be embedded in x0 = ${show(x)}`);
  const rho = new Float64Array((k + 1) * V);
  for (let i = 0; i < x.length; i++) {
    if (fixed(x[i])) continue;
    for (let g = 0; g <= k; g++) {
      const lp = P[i * w + g] + S[(i + 1) * w + g] - total;
      if (lp > -Infinity) rho[g * V + x[i]] += Math.exp(lp);
    }
  }
  return rho;
}
