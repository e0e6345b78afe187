import { jit, nn, numpy as np, tree, type Array as JArray } from "@jax-js/jax";
import type { Denoiser } from "../core/denoiser.js";
import { padRows, rowTokens } from "../core/padded.js";
import { timeAt, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import type { Schedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { insertionLayout } from "../model/insertion.js";
import type { DeletionProcess } from "../processes/deletion.js";
import type { Network, Objective, Params } from "../train/types.js";
import type { Rate, RateModel } from "./deletion-bound.js";
import { inverseSchedule } from "./elbo.js";

/**
 * Training and sampling of the insertion model (src/model/insertion.ts)
 * for deletion diffusion.
 *
 * The model is q(x0_hat, a | x_t, t): a total T of tokens to insert, gap
 * counts c ~ Multinomial(T, pi) and a token per inserted slot; (counts,
 * tokens) fix both x0_hat and the alignment a of x_t inside it. Training
 * minimises the seed's cross-entropy with the alignment as a latent,
 *   -log q(counts | x_t, t) - sum_slots log q(token | x_t, t),
 *   log q(counts) = log q(T) + log T! - sum_g log c_g! + sum_g c_g log pi_g,
 * with the targets read off the deletion pattern drawn in training (the
 * kept positions are a uniform embedding of x_t in x0, so this trains the
 * alignment to be uniform too, as posteriorNoise assumes).
 *
 * The tilt. Under deletion p(x0, a | x_t, t) ∝ p(x0) m(t)^(|x0| - |x_t|)
 * (1 - m(t))^|x_t| for every embedding a, and |x0| - |x_t| = T: the
 * posterior at any t is a t-free measure tilted by m(t)^T. So the total is
 *   q_t(T) ∝ exp(l(T) + T log m(t)),
 * exact in form and forcing T = 0 as m -> 0; the network also sees t (for
 * what its factorised allocation and tokens cannot get from the tilt).
 */

/** Count and token targets for one batch, in the layout the loss reads. */
export interface InsertionTargets {
  /** [B, G, 4 + K]: c_g, log m(t), T, log T! - sum log c_g! (gap 0 only), then the tokens of slots 0..K-1 (-1 where empty). */
  target: Tensor;
  /** [B, G]: 1 / (mean |x0| of the batch) on the gaps of x_t, 0 on padding gaps: the loss is in nats per character. */
  weight: Tensor;
}

/** log m, clamped so that T log m stays finite (m = 0 still forces T = 0 in practice). */
const logLevel = (m: number) => Math.log(Math.max(m, 1e-12));

const logFactorial = (n: number) => {
  let s = 0;
  for (let k = 2; k <= n; k++) s += Math.log(k);
  return s;
};

/**
 * The targets of a batch: which tokens of x0 were deleted (u_i < m(t)),
 * grouped by the gap of x_t they fall in, in order.
 */
export function insertionTargets(process: DeletionProcess, maxLength: number, x0: Tensor, t: Float32Array | number, u: Tensor): InsertionTargets {
  const { gaps: G, K } = insertionLayout(process.vocab, maxLength);
  const [B, L] = x0.shape;
  if (L !== maxLength) throw new Error(`insertionTargets: rows hold ${L} positions, the model ${maxLength}`);
  const W = 4 + K;
  const target = new Float32Array(B * G * W);
  const weight = new Float32Array(B * G);
  const lengths = Array.from({ length: B }, (_, b) => rowTokens(x0, b, process.pad).length);
  const meanLength = Math.max(1, lengths.reduce((a, b) => a + b, 0) / B);
  for (let b = 0; b < B; b++) {
    const m = process.schedule.m(timeAt(t, b));
    const slots: number[][] = Array.from({ length: G }, () => []);
    let g = 0;
    for (let i = 0; i < lengths[b]; i++) {
      const tok = x0.data[b * L + i];
      if (process.fixed(tok) || !(u.data[b * L + i] < m || m >= 1)) g++;
      else slots[g].push(tok);
    }
    const T = slots.reduce((a, s) => a + s.length, 0);
    for (let gg = 0; gg < G; gg++) {
      const at = (b * G + gg) * W;
      target.set([slots[gg].length, logLevel(m), T, gg === 0 ? logFactorial(T) - slots.reduce((a, s) => a + logFactorial(s.length), 0) : 0], at);
      target.fill(-1, at + 4, at + W);
      target.set(slots[gg], at + 4);
    }
    weight.fill(1 / meanLength, b * G, b * G + g + 1);
  }
  return { target: tensor([B, G, W], target), weight: tensor([B, G], weight) };
}

/**
 * The loss in jax-js: out [B, G, 1 + (K+1) + K V] (the network's logits),
 * target/weight as insertionTargets; returns, with w_b the weight of gap 0,
 *   -sum_b w_b [log q_t(T) + log T! - sum log c_g! + sum_g c_g log pi_g] / B
 *   -sum_{b,g} w_{b,g} sum_{j < c_g} log q(token_{g,j}) / B.
 */
export function insertionLoss(out: JArray, target: JArray, weight: JArray): JArray {
  const [B, G, F] = out.shape;
  const K = G - 1;
  const V = (F - K - 2) / K;
  const col = (x: JArray, a: number, b: number) => x.slice([], [], [a, b]);
  const first = (x: JArray) => x.slice([], [0, 1]).reshape([B, -1]);
  const alloc = nn.logSoftmax(col(out.ref, 0, 1).reshape([B, G]), -1);
  const totals = first(col(out.ref, 1, K + 2));
  const tokens = col(out, K + 2, F).reshape([B, G, K, V]);
  const c = col(target.ref, 0, 1).reshape([B, G]);
  const logm = first(col(target.ref, 1, 2));
  const T = first(col(target.ref, 2, 3)).reshape([B]);
  const coef = first(col(target.ref, 3, 4)).reshape([B]);
  const toks = col(target, 4, 4 + K);
  const tilted = totals.add(logm.mul(np.arange(K + 1).astype(np.float32).reshape([1, K + 1])));
  const logqT = nn.logSoftmax(tilted, -1).mul(nn.oneHot(T.astype(np.int32), K + 1)).sum(-1);
  const logqCounts = logqT.add(coef).add(c.mul(alloc).sum(-1)); // [B]
  const present = np.greaterEqual(toks.ref, 0).astype(np.float32);
  const ids = np.maximum(toks, 0).astype(np.int32);
  const logqTok = nn.logSoftmax(tokens, -1).mul(nn.oneHot(ids, V)).sum(-1).mul(present).sum(-1); // [B, G]
  const rowWeight = weight.ref.slice([], [0, 1]).reshape([B]);
  return logqCounts.mul(rowWeight).sum().add(logqTok.mul(weight).sum()).mul(-1 / B);
}

/** The Objective for train(): targets from the sampled deletion pattern, the insertion loss. */
export function insertionObjective(process: DeletionProcess, maxLength: number): Objective<Tensor, Tensor> & { description: Record<string, unknown> } {
  return {
    loss: insertionLoss,
    description: { kind: "insertion", loss: "-log q(counts) - sum log q(tokens), nats per character", process: process.name },
    target: (x0, _xt, t, u) => insertionTargets(process, maxLength, x0, t, u),
  };
}

// ---- host side: the distribution one row of logits defines -------------------------

/** A normalised distribution from logits (entries <= IMPOSSIBLE / 10 get probability 0). */
function softmax(logits: ArrayLike<number>, scale = 1): Float64Array {
  const p = Float64Array.from(logits, (v) => v * scale);
  let mx = -Infinity;
  for (const v of p) mx = Math.max(mx, v);
  let z = 0;
  for (let i = 0; i < p.length; i++) z += p[i] = logits[i] < -1e8 ? 0 : Math.exp(p[i] - mx);
  for (let i = 0; i < p.length; i++) p[i] /= z;
  return p;
}

/** P(Binomial(n, p) > j) for j = 0..n-1. */
function binomialSurvival(n: number, p: number): Float64Array {
  const pmf = new Float64Array(n + 1);
  pmf[0] = (1 - p) ** n;
  for (let c = 1; c <= n; c++) pmf[c] = p >= 1 ? Number(c === n) : (pmf[c - 1] * (n - c + 1) * p) / (c * (1 - p));
  const s = new Float64Array(n);
  let tail = 1 - pmf[0];
  for (let j = 0; j < n; j++) {
    s[j] = Math.max(0, tail);
    tail -= pmf[j + 1];
  }
  return s;
}

/** One row of the network's output [G, width] and the insertion distribution it defines at a level m. */
export class Proposal {
  private readonly W: number;
  private readonly tokenProbs = new Map<number, Float64Array>();
  /** Allocation over the real gaps 0..k. */
  readonly alloc: Float64Array;

  constructor(
    private readonly logits: Float32Array,
    private readonly V: number,
    /** The most tokens one x0_hat can add (Lmax). */
    private readonly K: number,
    /** |x_t|: gaps 0..k are real. */
    readonly k: number,
  ) {
    this.W = 1 + (K + 1) + K * V;
    if (logits.length !== (K + 1) * this.W) throw new Error(`Proposal: ${logits.length} logits, expected ${K + 1} gaps x ${this.W}`);
    this.alloc = softmax(Array.from({ length: k + 1 }, (_, g) => logits[g * this.W]));
  }

  /** q_m(T), T = 0..K: the tilted, masked total. */
  totals(m: number): Float64Array {
    if (m <= 0) return Float64Array.from({ length: this.K + 1 }, (_, T) => Number(T === 0));
    const lm = Math.log(Math.min(1, m));
    return softmax(Array.from({ length: this.K + 1 }, (_, T) => this.logits[1 + T] + (this.logits[1 + T] < -1e8 ? 0 : T * lm)));
  }

  /** q(token of slot j of gap g = v), v = 0..V-1 (softmax at a temperature). */
  tokens(g: number, j: number, temperature = 1): Float64Array {
    const key = (g * this.K + j) * 64 + Math.round(temperature * 16);
    let p = this.tokenProbs.get(key);
    if (!p) {
      const off = g * this.W + 2 + this.K + j * this.V;
      this.tokenProbs.set(key, (p = softmax(this.logits.subarray(off, off + this.V), 1 / temperature)));
    }
    return p;
  }

  /** log q(counts, tokens) of one insertion pattern at level m (gaps 0..k; tokens[g] in slot order). */
  logProb(m: number, tokens: number[][]): number {
    const counts = tokens.map((s) => s.length);
    const T = counts.reduce((a, c) => a + c, 0);
    let lp = Math.log(this.totals(m)[T]) + logFactorial(T);
    counts.forEach((c, g) => (lp += c * Math.log(this.alloc[g]) - logFactorial(c)));
    tokens.forEach((s, g) => s.forEach((v, j) => (lp += Math.log(this.tokens(g, j)[v]))));
    return lp;
  }

  /**
   * Expected insertions at level m: rho(g, v) = sum_j q(c_g > j) q(token_{g,j} = v),
   * q(c_g > j) = sum_T q(T) P(Binomial(T, pi_g) > j); the total is E[T].
   * These are the reverse rates (times m'/m) of the model's insertion chain.
   */
  rates(m: number): Rate {
    const qT = this.totals(m);
    const total = qT.reduce((a, p, T) => a + p * T, 0);
    const survival = new Map<number, Float64Array>();
    const survivalOf = (g: number) => {
      let s = survival.get(g);
      if (!s) {
        s = new Float64Array(this.K);
        for (let T = 1; T <= this.K; T++) {
          if (qT[T] === 0) continue;
          const b = binomialSurvival(T, this.alloc[g]);
          for (let j = 0; j < T; j++) s[j] += qT[T] * b[j];
        }
        survival.set(g, s);
      }
      return s;
    };
    return {
      total,
      at: (g, v) => {
        const s = survivalOf(g);
        let r = 0;
        for (let j = 0; j < this.K && s[j] > 0; j++) r += s[j] * this.tokens(g, j)[v];
        return r;
      },
    };
  }

  /**
   * Draw x0_hat: T ~ q_m(T), gap counts ~ Multinomial(T, pi), a token per
   * slot; x_t's tokens kept in between. `allowed` (infilling) restricts the
   * allocation to some gaps (none allowed: nothing is inserted).
   */
  sample(xt: ArrayLike<number>, m: number, rng: Rng, temperature = 1, allowed?: readonly boolean[]): number[] {
    const pi = allowed ? this.alloc.map((p, g) => (allowed[g] ? p : 0)) : this.alloc;
    const T = pi.some((p) => p > 0) ? rng.categorical(this.totals(m)) : 0;
    const counts = new Array<number>(this.k + 1).fill(0);
    for (let i = 0; i < T; i++) counts[rng.categorical(pi)]++;
    const out: number[] = [];
    counts.forEach((c, g) => {
      for (let j = 0; j < c; j++) out.push(rng.categorical(this.tokens(g, j, temperature)));
      if (g < this.k) out.push(xt[g]);
    });
    return out;
  }
}

/** A trained insertion network as Proposals for padded batches, in chunks (bounded memory). */
export interface InsertionModel {
  readonly vocab: number;
  readonly maxLength: number;
  /** One Proposal per row of x_t, at one time per row (or one for all). */
  proposals(xt: Tensor, t: Time): Promise<Proposal[]>;
  dispose(): void;
}

export function networkInsertion(network: Network, params: Params, opts: { chunk?: number } = {}): InsertionModel {
  const V = network.config.vocab;
  const L = network.config.maxLength;
  if (!(typeof V === "number" && typeof L === "number")) throw new Error(`networkInsertion: network ${network.name} has no config.vocab / config.maxLength`);
  const chunk = opts.chunk ?? 64;
  const { gaps: G, K, width: W } = insertionLayout(V, L);
  const fwd = jit((p: Params, x: JArray, t: JArray) => network.apply(p, x, t));
  return {
    vocab: V,
    maxLength: L,
    async proposals(xt, t) {
      const out: Proposal[] = [];
      for (let s = 0; s < xt.shape[0]; s += chunk) {
        const e = Math.min(xt.shape[0], s + chunk);
        const ts = Float32Array.from({ length: e - s }, (_, j) => timeAt(t, s + j));
        const y = fwd(tree.ref(params), np.array(xt.data.subarray(s * L, e * L)).reshape([e - s, L]), np.array(ts));
        const logits = (await y.data()) as Float32Array;
        for (let b = 0; b < e - s; b++) out.push(new Proposal(logits.slice(b * G * W, (b + 1) * G * W), V, K, rowTokens(xt, s + b, V).length));
      }
      return out;
    },
    dispose: () => fwd.dispose(),
  };
}

export interface InsertionDenoiserOptions {
  /** Token softmax temperature (default 1 = the model itself). */
  temperature?: number;
  /** Infilling: which gaps of a row of x_t may receive tokens (default: all). */
  allowedGaps?: (xt: ArrayLike<number>) => boolean[];
}

/**
 * x0_hat ~ q(x0 | x_t, t): every token of x_t kept, insertions drawn per gap
 * at the level m(t), |x0_hat| <= Lmax. Fixed tokens (infilling) are shown
 * to the network as the tokens they stand for.
 */
export function insertionDenoiser(model: InsertionModel, process: DeletionProcess, opts: InsertionDenoiserOptions = {}): Denoiser {
  const temperature = opts.temperature ?? 1;
  if (!(temperature > 0)) throw new Error(`insertionDenoiser: temperature must be positive, got ${temperature}`);
  const V = process.vocab;
  return {
    async sample(xt: Tensor, t: number, rng: Rng): Promise<Tensor> {
      const L = xt.shape[1];
      if (L !== model.maxLength) throw new Error(`insertionDenoiser: x_t rows hold ${L} positions, the model ${model.maxLength}`);
      const plain = tensor(xt.shape, xt.data.map((v) => (v > V ? v - V - 1 : v)));
      const gm = await model.proposals(plain, t);
      const m = process.schedule.m(t);
      const rows = gm.map((g, b) => {
        const y = rowTokens(xt, b, V);
        return g.sample(y, m, rng, temperature, opts.allowedGaps?.(y));
      });
      return padRows(rows, L, V);
    },
  };
}

/**
 * The model's reverse rates for the bound (deletion-bound.ts): row b is
 * evaluated at the time t with m(t) = m[b], its counts tilted at m[b].
 */
export function insertionRates(model: InsertionModel, schedule: Schedule): RateModel {
  return {
    async ratesFor(xt, m) {
      const t = Float32Array.from(m, (v) => inverseSchedule(schedule.m, v));
      return (await model.proposals(xt, t)).map((g, b) => g.rates(m[b]));
    },
  };
}
