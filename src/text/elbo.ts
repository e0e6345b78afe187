import { type Time, type TimeDomain } from "../core/process.js";
import { Rng } from "../core/rng.js";
import type { Schedule } from "../core/schedule.js";
import { gatherBatch, tensor, type Tensor } from "../core/tensor.js";
import { choose } from "../processes/tokens.js";
import type { CategoricalModel } from "./denoiser.js";

/**
 * The continuous-time negative ELBO of masking diffusion (MDLM, Sahoo et al.
 * 2024, eq. 10, with alpha_t = 1 - m(t)):
 *   NELBO(x0) = int_0^1  m'(t) / m(t)  E_{x_t | x0} [ sum_{i masked} -log q(x0_i | x_t, t) ] dt
 * (MDLM writes the weight as alpha'_t / (1 - alpha_t) on log-probabilities;
 * with alpha = 1 - m that is -m'/m, the sign absorbed by -log.) For the
 * linear and MDLM log-linear schedules m'/m = 1/t; for the cosine
 * m(t) = 1 - cos(pi t / 2) it is (pi/2) sin(pi t/2) / (1 - cos(pi t/2)).
 * The prior term is 0 when m(1) = 1 and the reconstruction term is 0 because
 * m(0) = 0 (x_0 = x0).
 *
 * Substituting m = m(t), the integral does not depend on the schedule
 * (MDLM section 3.2, the invariance noted by Kingma et al. for VDM):
 *   NELBO = int_0^1 (1/m) E_{M ~ Bernoulli(m)^L} [ f(M) ] dm,   f(M) = sum_{i in M} -log q(x0_i | x0 masked at M)
 *         = sum_{k=1}^{L} (1/k) E_{|M| = k} [ f(M) ]      (int m^(k-1) (1-m)^(L-k) dm = 1 / (k C(L, k)))
 *         = E_{k ~ U{1..L}} [ (L/k) E_{|M| = k} f(M) ],
 * the "any-order autoregressive" form. Its Monte Carlo estimate ("count")
 * has bounded variance, unlike the t-sampled one ("time"), whose 1/t weight
 * has a log-divergent second moment; both are implemented, "count" is the
 * default. With the exact posterior it equals -log p(x0) for every x0
 * (tested with the enumerable oracle in test/text.test.ts).
 */

/**
 * What the ELBO needs of a masking process: its [MASK] id and m(t). Both the
 * continuous masking process and its counted form fit; for the counted form
 * (exactly one more token revealed per step of the grid k/L) the "count"
 * estimator below is exactly its discrete-time NELBO as well.
 */
export interface MaskingLike {
  readonly maskId: number | null;
  readonly schedule: Schedule;
}

/**
 * The NELBO weight of each masked token at time t, so that
 *   E_t [ w(t) sum_{i masked} -log q(x0_i | x_t, t) ] = NELBO(x0)
 * for t drawn as training draws it:
 * - continuous time, t ~ U(0, 1]: w = m'(t) / m(t) (the integrand above);
 * - a discrete-time process on the grid t_k = k/T, k ~ U{1..T}, destroying
 *   exactly n(t) of the L positions (the counted form): the reverse step
 *   t_k -> t_(k-1) reveals n_k - n_(k-1) of the n_k masked tokens, chosen
 *   uniformly, so its term is ((n_k - n_(k-1)) / n_k) E[sum_{masked} -log q],
 *   and w = T (n_k - n_(k-1)) / n_k. With the linear m, n_k = k and T = L:
 *   w = L / k, the count form of maskingNelbo.
 * Zero where nothing is masked (no term to weight).
 */
export function maskingElboWeight(process: MaskingLike & { readonly time: TimeDomain; count?(t: number): number }, t: number): number {
  const dom = process.time;
  if (dom.kind === "discrete") {
    if (!process.count) throw new Error("maskingElboWeight: a discrete-time masking process must expose count(t), the number of masked positions");
    const T = dom.steps;
    const k = Math.round(t * T);
    const n = process.count(k / T);
    return n > 0 ? (T * (n - process.count((k - 1) / T))) / n : 0;
  }
  const m = (s: number) => process.schedule.m(s);
  const mt = m(t);
  return mt > 0 ? scheduleSlope(m, t) / mt : 0;
}

/**
 * The ELBO weight averaged over t given what a row shows: with K of its L
 * tokens masked,
 *   w(K) = E[ m'(t)/m(t) | K ] = int m'(t)/m(t) Bin(K; L, m(t)) dt / P(K),   P(K) = int Bin(K; L, m(t)) dt,
 * for t ~ U(0, 1] as training draws it. Given K the masked set is uniform
 * whatever t was, so the row's loss depends on t only through K, and
 * replacing m'/m by w(K) keeps the loss an unbiased NELBO estimate while
 * removing the spread of 1/t among rows that show the same thing
 * (Rao-Blackwell): this is the count form of the NELBO above (the
 * any-order autoregressive loss of Hoogeboom et al. 2022), whose weights
 * are bounded by those of the fully-masked rows. The numerator is
 * int C(L, K) m^(K-1) (1 - m)^(L-K) dm over [m(0), m(1)] (= 1/K when m
 * runs from 0 to 1); for the linear m, P(K) = 1/(L + 1) and w(K) = (L + 1)/K.
 * Both integrals by Simpson's rule, fine enough for the narrowest
 * binomial (width ~ 1/L). w(0) = 0: a row with nothing masked has no term.
 */
export function maskingCountWeights(schedule: Schedule, L: number): Float64Array {
  const n = 2 * Math.max(2048, 16 * L); // even number of intervals
  const logC = new Float64Array(L + 1);
  for (let k = 1; k <= L; k++) logC[k] = logC[k - 1] + Math.log((L - k + 1) / k);
  // Simpson's rule over x in [a, b] of f(x, K) for every K at once.
  const simpson = (a: number, b: number, f: (x: number, out: Float64Array) => void): Float64Array => {
    const acc = new Float64Array(L + 1);
    const row = new Float64Array(L + 1);
    const h = (b - a) / n;
    for (let i = 0; i <= n; i++) {
      f(a + i * h, row);
      const c = ((i === 0 || i === n ? 1 : i % 2 ? 4 : 2) * h) / 3;
      for (let k = 0; k <= L; k++) acc[k] += c * row[k];
    }
    return acc;
  };
  // C(L, k) m^(k - shift) (1 - m)^(L - k), with 0^0 = 1.
  const binomial = (m: number, shift: number, out: Float64Array) => {
    const lm = Math.log(m);
    const l1 = Math.log1p(-m);
    for (let k = 0; k <= L; k++) {
      const a = k - shift;
      const b = L - k;
      out[k] = a < 0 || (m === 0 && a > 0) || (m === 1 && b > 0) ? 0 : Math.exp(logC[k] + (a > 0 ? a * lm : 0) + (b > 0 ? b * l1 : 0));
    }
  };
  const m = (t: number) => schedule.m(t);
  const P = simpson(0, 1, (t, out) => binomial(m(t), 0, out));
  const num = simpson(m(0), m(1), (x, out) => binomial(x, 1, out));
  return Float64Array.from(P, (p, k) => (k > 0 && p > 0 ? num[k] / p : 0));
}

export interface NelboOptions {
  rng: Rng;
  /** Monte Carlo estimates per sequence (default 1). */
  samplesPerSeq?: number;
  /** "count" (default, bounded variance) or "time" (t ~ U(0, 1), weight m'(t)/m(t)). */
  estimator?: "count" | "time";
  /** Rows per model call (default 256). */
  batch?: number;
}

export interface NelboResult {
  /** Mean NELBO per sequence, in nats. */
  natsPerSeq: number;
  /** The same, in bits per character: natsPerSeq / (L ln 2). */
  bitsPerChar: number;
  /** Standard error of bitsPerChar (from the spread of the estimates). */
  stderrBits: number;
  estimates: number;
}

/** t with m(t) = level, by bisection (m is increasing); t = 1 if m(1) < level. */
export function inverseSchedule(m: (t: number) => number, level: number): number {
  if (m(1) <= level) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (m(mid) < level) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** m'(t) by central differences (one-sided at the ends). */
export function scheduleSlope(m: (t: number) => number, t: number, h = 1e-5): number {
  const a = Math.max(0, t - h);
  const b = Math.min(1, t + h);
  return (m(b) - m(a)) / (b - a);
}

/**
 * The Monte Carlo driver of the NELBO estimators (masking here, replacement
 * and encoding beside): S = M * samplesPerSeq estimates, estimate s for row
 * s % M at a level u_s stratified over S equal strata of (0, 1) (estimate s
 * gets stratum perm[s]). `estimate(x0, u)` returns the nats of one batch of
 * rows [n, L] at levels u; the result carries the stratified standard error.
 */
export async function stratifiedNelbo(data: Tensor, opts: NelboOptions, estimate: (x0: Tensor, u: Float64Array) => Promise<Float64Array>): Promise<NelboResult> {
  const [M, L] = data.shape;
  const S = M * (opts.samplesPerSeq ?? 1);
  const batch = opts.batch ?? 256;
  const rng = opts.rng;
  const perm = rng.permutation(S);
  const est = new Float64Array(S);
  for (let s0 = 0; s0 < S; s0 += batch) {
    const n = Math.min(batch, S - s0);
    const x0 = gatherBatch(data, Uint32Array.from({ length: n }, (_, j) => (s0 + j) % M));
    const u = Float64Array.from({ length: n }, (_, j) => (perm[s0 + j] + rng.uniform()) / S);
    est.set(await estimate(x0, u), s0);
  }
  return nelboSummary(est, L, perm);
}

/** Monte Carlo NELBO of a categorical model on held-out sequences [M, L] (see the file comment). */
export async function maskingNelbo(model: CategoricalModel, process: MaskingLike, data: Tensor, opts: NelboOptions): Promise<NelboResult> {
  const L = data.shape[1];
  const V = model.vocab;
  const estimator = opts.estimator ?? "count";
  const rng = opts.rng;
  const m = (t: number) => process.schedule.m(t);
  const maskId = process.maskId;
  if (maskId === null) throw new Error("maskingNelbo: the process has no [MASK] id; the ELBO here is the masking one");
  return stratifiedNelbo(data, opts, async (x0, u) => {
    const n = x0.shape[0];
    const xt = Float32Array.from(x0.data);
    const ts = new Float32Array(n);
    const weight = new Float64Array(n);
    for (let j = 0; j < n; j++) {
      if (estimator === "count") {
        const k = 1 + Math.min(L - 1, Math.floor(u[j] * L));
        const masked = rng.permutation(L).subarray(0, k);
        for (const i of masked) xt[j * L + i] = maskId;
        ts[j] = inverseSchedule(m, k / L);
        weight[j] = L / k;
      } else {
        const t = Math.max(u[j], 1e-6);
        const mt = m(t);
        for (let i = 0; i < L; i++) if (rng.uniform() < mt) xt[j * L + i] = maskId;
        ts[j] = t;
        weight[j] = maskingElboWeight({ ...process, time: { kind: "continuous" } }, t);
      }
    }
    const logp = await model.logProbs(tensor([n, L], xt), ts);
    return Float64Array.from({ length: n }, (_, j) => {
      let f = 0;
      for (let i = j * L; i < (j + 1) * L; i++) if (xt[i] === maskId) f -= logp[i * V + x0.data[i]];
      return weight[j] * f;
    });
  });
}

/**
 * Mean of per-sequence NELBO estimates (nats) as a NelboResult in bits per
 * character of rows of length L. With `strata` (estimate s drew its level
 * from stratum strata[s] of S equal strata) the standard error is that of
 * stratified sampling, from differences of estimates in neighbouring
 * strata: Var(mean) ~ sum over pairs (e_a - e_b)^2 / S^2. The plain sample
 * variance would count the spread ACROSS levels, which stratification has
 * already removed.
 */
export function nelboSummary(est: ArrayLike<number>, L: number, strata?: ArrayLike<number>): NelboResult {
  const S = est.length;
  let mean = 0;
  for (let i = 0; i < S; i++) mean += est[i] / S;
  let varMean = 0;
  if (strata && S >= 4) {
    const byStratum = new Float64Array(S);
    for (let s = 0; s < S; s++) byStratum[strata[s]] = est[s];
    const pairs = Math.floor(S / 2);
    for (let k = 0; k < pairs; k++) varMean += (byStratum[2 * k] - byStratum[2 * k + 1]) ** 2;
    varMean *= S / (2 * pairs) / (S * S);
  } else {
    for (let i = 0; i < S; i++) varMean += (est[i] - mean) ** 2 / Math.max(1, S - 1) / S;
  }
  const toBits = 1 / (L * Math.LN2);
  return { natsPerSeq: mean, bitsPerChar: mean * toBits, stderrBits: Math.sqrt(varMean) * toBits, estimates: S };
}

/** f(M) = sum over masked i of -log q(x0_i | x0 masked at M, t) for one row and one mask set (bitmask). */
async function maskedLoss(model: CategoricalModel, process: MaskingLike, x0: ArrayLike<number>, set: number, t: Time): Promise<number> {
  const L = x0.length;
  const xt = Float32Array.from(x0);
  for (let i = 0; i < L; i++) if (set & (1 << i)) xt[i] = process.maskId!;
  const logp = await model.logProbs(tensor([1, L], xt), t);
  let f = 0;
  for (let i = 0; i < L; i++) if (set & (1 << i)) f -= logp[i * model.vocab + x0[i]];
  return f;
}

/** The count form evaluated exactly by enumerating all 2^L mask sets (short rows only). */
export async function maskingNelboExact(model: CategoricalModel, process: MaskingLike, x0: ArrayLike<number>): Promise<number> {
  const L = x0.length;
  if (L > 12) throw new Error(`maskingNelboExact: enumerates 2^L mask sets, L = ${L} is too long`);
  let total = 0;
  for (let set = 1; set < 1 << L; set++) {
    const k = popcount(set);
    total += (await maskedLoss(model, process, x0, set, inverseSchedule((t) => process.schedule.m(t), k / L))) / k / choose(L, k);
  }
  return total;
}

/**
 * The time form int_0^1 m'(t)/m(t) E[f(M)] dt by the midpoint rule on `nodes`
 * points, with the mask expectation enumerated exactly (short rows only).
 */
export async function maskingNelboQuadrature(model: CategoricalModel, process: MaskingLike, x0: ArrayLike<number>, nodes = 400): Promise<number> {
  const L = x0.length;
  if (L > 12) throw new Error(`maskingNelboQuadrature: enumerates 2^L mask sets, L = ${L} is too long`);
  const m = (t: number) => process.schedule.m(t);
  let total = 0;
  for (let j = 0; j < nodes; j++) {
    const t = (j + 0.5) / nodes;
    const mt = m(t);
    if (!(mt > 0)) continue;
    let e = 0;
    for (let set = 1; set < 1 << L; set++) {
      const k = popcount(set);
      e += mt ** k * (1 - mt) ** (L - k) * (await maskedLoss(model, process, x0, set, t));
    }
    total += (maskingElboWeight({ ...process, time: { kind: "continuous" } }, t) * e) / nodes;
  }
  return total;
}

function popcount(x: number): number {
  let c = 0;
  for (; x; x &= x - 1) c++;
  return c;
}
