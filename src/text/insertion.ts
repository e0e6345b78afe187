import { nn, numpy as np, type Array as JArray } from "@jax-js/jax";
import { batchedForward } from "../engine/forward.js";
import type { Denoiser } from "../core/denoiser.js";
import { padRows, rowLengths, rowTokens } from "../core/padded.js";
import { timeAt, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import type { Schedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { insertionLayout } from "../model/insertion.js";
import type { DeletionProcess } from "../processes/deletion.js";
import type { LossFn, Network, Objective, Params } from "../train/types.js";
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

/** Where the deleted tokens of one row of x0 go: gap counts, and per deleted token (in order) its gap, slot and id. */
interface Pattern {
  counts: number[];
  slots: { gap: number; slot: number; token: number }[];
  logm: number;
}

/** log m, clamped so that T log m stays finite (m = 0 still forces T = 0 in practice). */
const logLevel = (m: number) => Math.log(Math.max(m, 1e-12));

const logFactorial = (n: number) => {
  let s = 0;
  for (let k = 2; k <= n; k++) s += Math.log(k);
  return s;
};

/** The deletion pattern of each row: token i of x0 deleted iff u_i < m(t) (never a fixed token). */
function patterns(process: DeletionProcess, x0: Tensor, t: Float32Array | number, u: Tensor): Pattern[] {
  const [B, L] = x0.shape;
  return Array.from({ length: B }, (_, b) => {
    const m = process.schedule.m(timeAt(t, b));
    const counts = new Array<number>(L + 1).fill(0);
    const slots: Pattern["slots"] = [];
    let g = 0;
    for (let i = 0; i < L && x0.data[b * L + i] !== process.pad; i++) {
      const token = x0.data[b * L + i];
      if (process.fixed(token) || !(u.data[b * L + i] < m || m >= 1)) g++;
      else slots.push({ gap: g, slot: counts[g]++, token });
    }
    return { counts, slots, logm: logLevel(m) };
  });
}

/** Network input [B, Lmax + 2 Lmax]: x_t, then the (gap, slot) of each deleted token as queries (gap -1: unused). */
export function queryInput(xt: Tensor, queries: { gap: number; slot: number }[][]): Tensor {
  const [B, L] = xt.shape;
  const W = 3 * L;
  const out = new Float32Array(B * W);
  for (let b = 0; b < B; b++) {
    out.set(xt.data.subarray(b * L, b * L + L), b * W);
    out.fill(-1, b * W + L, b * W + 3 * L);
    queries[b].forEach((q, i) => {
      out[b * W + L + i] = q.gap;
      out[b * W + 2 * L + i] = q.slot;
    });
  }
  return tensor([B, W], out);
}

/**
 * Targets of a batch, in the layout the loss reads: [B, G 4 + Lmax] holding,
 * per gap, c_g, log m(t), T and (gap 0 only) log T! - sum log c_g!, then the
 * id of each queried slot's token (-1: unused). Weight [B]: 1 / (mean |x0|
 * of the batch), so the loss is in nats per character.
 */
export function insertionTargets(process: DeletionProcess, maxLength: number, x0: Tensor, t: Float32Array | number, u: Tensor): { target: Tensor; weight: Tensor } {
  const { gaps: G } = insertionLayout(process.vocab, maxLength);
  const [B, L] = x0.shape;
  if (L !== maxLength) throw new Error(`insertionTargets: rows hold ${L} positions, the model ${maxLength}`);
  const W = 4 * G + L;
  const target = new Float32Array(B * W);
  const pats = patterns(process, x0, t, u);
  pats.forEach((p, b) => {
    const T = p.slots.length;
    p.counts.forEach((c, g) => target.set([c, p.logm, T, g === 0 ? logFactorial(T) - p.counts.reduce((a, n) => a + logFactorial(n), 0) : 0], b * W + 4 * g));
    target.fill(-1, b * W + 4 * G, (b + 1) * W);
    p.slots.forEach((q, i) => (target[b * W + 4 * G + i] = q.token));
  });
  const meanLength = Math.max(1, rowLengths(x0, process.pad).reduce((a, n) => a + n, 0) / B);
  return { target: tensor([B, W], target), weight: tensor([B], new Float32Array(B).fill(1 / meanLength)) };
}

/**
 * The loss in jax-js: out [B, G (K+2) + Lmax V] (the network's output for
 * the training queries), target/weight as insertionTargets; returns
 *   -sum_b w_b [log q_t(T) + log T! - sum_g log c_g! + sum_g c_g log pi_g + sum_slots log q(token)] / B.
 */
export const insertionLoss: LossFn = Object.assign((out: JArray, target: JArray, weight: JArray): JArray => {
  const [total, rows] = insertionSums(out, target, weight);
  return total.div(rows);
}, { sums: insertionSums });

/** insertionLoss as a sum over rows and the row count: a batch splits into micro-batches (the weights are the whole batch's). */
function insertionSums(out: JArray, target: JArray, weight: JArray): [JArray, JArray] {
  const B = out.shape[0];
  const W = target.shape[1];
  // W = 4 G + L with G = L + 1, so L = (W - 4) / 5; the output width then gives V.
  const L = (W - 4) / 5;
  const G = L + 1;
  const K = L;
  const V = (out.shape[1] - G * (K + 2)) / L;
  const head = out.ref.slice([], [0, G * (K + 2)]).reshape([B, G, K + 2]);
  const tokens = out.slice([], [G * (K + 2), G * (K + 2) + L * V]).reshape([B, L, V]);
  const alloc = nn.logSoftmax(head.ref.slice([], [], [0, 1]).reshape([B, G]), -1);
  const totals = head.slice([], [0, 1], [1, K + 2]).reshape([B, K + 1]);
  const perGap = target.ref.slice([], [0, 4 * G]).reshape([B, G, 4]);
  const c = perGap.ref.slice([], [], [0, 1]).reshape([B, G]);
  const first = perGap.slice([], [0, 1]).reshape([B, 4]);
  const logm = first.ref.slice([], [1, 2]);
  const T = first.ref.slice([], [2, 3]).reshape([B]);
  const coef = first.slice([], [3, 4]).reshape([B]);
  const toks = target.slice([], [4 * G, W]);
  const tilted = totals.add(logm.mul(np.arange(K + 1).astype(np.float32).reshape([1, K + 1])));
  const logqT = nn.logSoftmax(tilted, -1).mul(nn.oneHot(T.astype(np.int32), K + 1)).sum(-1);
  const present = np.greaterEqual(toks.ref, 0).astype(np.float32);
  const ids = np.maximum(toks, 0).astype(np.int32);
  const logqTok = nn.logSoftmax(tokens, -1).mul(nn.oneHot(ids, V)).sum(-1).mul(present).sum(-1); // [B]
  const logq = logqT.add(coef).add(c.mul(alloc).sum(-1)).add(logqTok);
  return [logq.mul(weight).sum().mul(-1), np.full([], B)];
}

/** The Objective for train(): x_t with the deleted tokens' slots as queries, targets from the same deletion pattern. */
export function insertionObjective(process: DeletionProcess, maxLength: number): Objective<Tensor, Tensor> & { description: Record<string, unknown> } {
  return {
    loss: insertionLoss,
    description: { kind: "insertion", loss: "-log q(counts) - sum log q(tokens), nats per character", process: process.name },
    target: (x0, _xt, t, u) => insertionTargets(process, maxLength, x0, t, u),
    input: (x0, xt, t, u) => queryInput(xt, patterns(process, x0, t, u).map((p) => p.slots)),
  };
}

// ---- host side: the distribution the network's output defines -----------------------

/** A normalised distribution from logits at a temperature (entries <= IMPOSSIBLE / 10 get probability 0). */
export function softmax(logits: ArrayLike<number>, temperature = 1): Float64Array {
  const p = Float64Array.from(logits, (v) => v / temperature);
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

/** Slots less likely than this to be filled are left out of rates (and never queried). */
const SLOT_CUTOFF = 1e-9;

/** Token distribution of slot j of gap g. */
export type SlotTokens = (g: number, j: number) => Float64Array;

/** The count part of one row's output (head [G (K + 2)]): the total T and its allocation to the gaps 0..k. */
export class Proposal {
  /** Allocation over the real gaps 0..k. */
  readonly alloc: Float64Array;

  constructor(
    private readonly head: Float32Array,
    /** The most tokens one x0_hat can add (Lmax). */
    readonly K: number,
    /** |x_t|: gaps 0..k are real. */
    readonly k: number,
  ) {
    if (head.length !== (K + 1) * (K + 2)) throw new Error(`Proposal: ${head.length} logits, expected ${K + 1} gaps x ${K + 2}`);
    this.alloc = softmax(Array.from({ length: k + 1 }, (_, g) => head[g * (K + 2)]));
  }

  /** q_m(T), T = 0..K: the tilted, masked total. */
  totals(m: number): Float64Array {
    if (m <= 0) return Float64Array.from({ length: this.K + 1 }, (_, T) => Number(T === 0));
    const lm = Math.log(Math.min(1, m));
    return softmax(Array.from({ length: this.K + 1 }, (_, T) => this.head[1 + T] + (this.head[1 + T] < -1e8 ? 0 : T * lm)));
  }

  /** Gap counts: T ~ q_m(T), then Multinomial(T, pi); `allowed` (infilling) restricts pi to some gaps (none: T = 0). */
  counts(m: number, rng: Rng, allowed?: readonly boolean[]): number[] {
    const pi = allowed ? this.alloc.map((p, g) => (allowed[g] ? p : 0)) : this.alloc;
    const T = pi.some((p) => p > 0) ? rng.categorical(this.totals(m)) : 0;
    const counts = new Array<number>(this.k + 1).fill(0);
    for (let i = 0; i < T; i++) counts[rng.categorical(pi)]++;
    return counts;
  }

  /** log q(counts, tokens) of one insertion pattern at level m (slots[g] = the tokens of gap g, in order). */
  logProb(m: number, slots: number[][], tokens: SlotTokens): number {
    const counts = slots.map((s) => s.length);
    const T = counts.reduce((a, c) => a + c, 0);
    let lp = Math.log(this.totals(m)[T]) + logFactorial(T);
    counts.forEach((c, g) => (lp += c * Math.log(this.alloc[g]) - logFactorial(c)));
    slots.forEach((s, g) => s.forEach((v, j) => (lp += Math.log(tokens(g, j)[v]))));
    return lp;
  }

  /**
   * q_m(c_g > j) for j = 0..K-1: sum_T q_m(T) P(Binomial(T, pi_g) > j). Values
   * below SLOT_CUTOFF are set to 0: those slots are never queried (their
   * share of any rate is below 1e-9 per slot).
   */
  survival(g: number, m: number): Float64Array {
    const qT = this.totals(m);
    const s = new Float64Array(this.K);
    for (let T = 1; T <= this.K; T++) {
      if (qT[T] === 0) continue;
      const b = binomialSurvival(T, this.alloc[g]);
      for (let j = 0; j < T; j++) s[j] += qT[T] * b[j];
    }
    return s.map((v) => (v < SLOT_CUTOFF ? 0 : v));
  }

  /** The slots of gap g worth querying at level m (survival above the cutoff). */
  slots(g: number, m: number): number {
    const s = this.survival(g, m);
    let j = 0;
    while (j < this.K && s[j] > 0) j++;
    return j;
  }

  /**
   * Expected insertions at level m: rho(g, v) = sum_j q(c_g > j) q(token_{g,j} = v);
   * the total is E[T]. These are the reverse rates (times m'/m) of the
   * model's insertion chain.
   */
  rates(m: number, tokens: SlotTokens): Rate {
    const qT = this.totals(m);
    const survival = new Map<number, Float64Array>();
    return {
      total: qT.reduce((a, p, T) => a + p * T, 0),
      at: (g, v) => {
        let s = survival.get(g);
        if (!s) survival.set(g, (s = this.survival(g, m)));
        let r = 0;
        for (let j = 0; j < this.K && s[j] > 0; j++) r += s[j] * tokens(g, j)[v];
        return r;
      },
    };
  }
}

/** A slot query: token logits of slot `slot` of gap `gap`. */
export interface SlotQuery {
  gap: number;
  slot: number;
}

/** A trained insertion network on the host: count heads, then token logits of queried slots, in chunks. */
export interface InsertionModel {
  readonly vocab: number;
  readonly maxLength: number;
  /** One Proposal per row of x_t, at one time per row (or one for all). */
  proposals(xt: Tensor, t: Time): Promise<Proposal[]>;
  /** Token distributions (softmax at a temperature) of any number of slots per row: out[b][i] for queries[b][i]. */
  slotTokens(xt: Tensor, t: Time, queries: SlotQuery[][], temperature?: number): Promise<Float64Array[][]>;
  dispose(): void;
}

export function networkInsertion(network: Network, params: Params, opts: { chunk?: number } = {}): InsertionModel {
  const V = network.config.vocab;
  const L = network.config.maxLength;
  if (!(typeof V === "number" && typeof L === "number")) throw new Error(`networkInsertion: network ${network.name} has no config.vocab / config.maxLength`);
  const chunk = opts.chunk ?? 128;
  const { K, head } = insertionLayout(V, L);
  // On the engine (src/engine/), which also cuts a call into chunks that fit its memory.
  const fwd = batchedForward((p: Params, b: { x: JArray; t: JArray }) => network.apply(p, b.x, b.t), params, { label: "networkInsertion" });
  /** Run the network on rows [s, e) of an input [B, width], one time per row. */
  const run = async (input: Tensor, t: Time, s: number, e: number): Promise<Float32Array> => {
    const w = input.shape[1];
    const ts = Float32Array.from({ length: e - s }, (_, j) => timeAt(t, s + j));
    return (await fwd({ x: tensor([e - s, w], input.data.subarray(s * w, e * w)), t: tensor([e - s], ts) })).data;
  };
  return {
    vocab: V,
    maxLength: L,
    async proposals(xt, t) {
      const out: Proposal[] = [];
      for (let s = 0; s < xt.shape[0]; s += chunk) {
        const e = Math.min(xt.shape[0], s + chunk);
        const y = await run(xt, t, s, e);
        for (let b = 0; b < e - s; b++) out.push(new Proposal(y.slice(b * head, (b + 1) * head), K, rowTokens(xt, s + b, V).length));
      }
      return out;
    },
    async slotTokens(xt, t, queries, temperature = 1) {
      const B = xt.shape[0];
      const out: Float64Array[][] = queries.map(() => []);
      const rounds = Math.max(0, ...queries.map((q) => Math.ceil(q.length / L)));
      // Up to L queries per row per call (the training shape): one input per round.
      for (let r = 0; r < rounds; r++) {
        const input = queryInput(xt, queries.map((q) => q.slice(r * L, (r + 1) * L)));
        const ts = Float32Array.from({ length: B }, (_, b) => timeAt(t, b));
        for (let s = 0; s < B; s += chunk) {
          const e = Math.min(B, s + chunk);
          const y = await run(input, ts, s, e);
          for (let b = s; b < e; b++) {
            const base = (b - s) * (head + L * V) + head;
            for (let i = 0; i < Math.min(L, queries[b].length - r * L); i++) out[b].push(softmax(y.subarray(base + i * V, base + (i + 1) * V), temperature));
          }
        }
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
 * x0_hat ~ q(x0 | x_t, t): the counts from the heads, then one more pass for
 * the tokens of the slots they create; every token of x_t kept, |x0_hat| <=
 * Lmax. Fixed tokens (infilling) are shown to the network as the tokens
 * they stand for.
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
      const m = process.schedule.m(t);
      const rows = Array.from({ length: xt.shape[0] }, (_, b) => rowTokens(xt, b, V));
      const props = await model.proposals(plain, t);
      const counts = props.map((p, b) => p.counts(m, rng, opts.allowedGaps?.(rows[b])));
      const queries = counts.map((c) => c.flatMap((n, gap) => Array.from({ length: n }, (_, slot) => ({ gap, slot }))));
      const probs = await model.slotTokens(plain, t, queries, temperature);
      const out = rows.map((y, b) => {
        const row: number[] = [];
        let i = 0;
        counts[b].forEach((n, g) => {
          for (let j = 0; j < n; j++) row.push(rng.categorical(probs[b][i++]));
          if (g < y.length) row.push(y[g]);
        });
        return row;
      });
      return padRows(out, L, V);
    },
  };
}

/**
 * The model's reverse rates for the bound (deletion-bound.ts): row b is
 * evaluated at the time t with m(t) = m[b], its total tilted at m[b]; the
 * token distributions of the slots of the gaps in `gaps[b]` are fetched.
 */
export function insertionRates(model: InsertionModel, schedule: Schedule): RateModel {
  return {
    async ratesFor(xt, m, gaps) {
      const t = Float32Array.from(m, (v) => inverseSchedule(schedule.m, v));
      const props = await model.proposals(xt, t);
      const queries = props.map((p, b) => (gaps?.[b] ?? []).flatMap((gap) => Array.from({ length: p.slots(gap, m[b]) }, (_, slot) => ({ gap, slot }))));
      const probs = await model.slotTokens(xt, t, queries);
      return props.map((p, b) => {
        const index = new Map(queries[b].map((q, i) => [q.gap * (p.K + 1) + q.slot, i]));
        return p.rates(m[b], (g, j) => {
          const i = index.get(g * (p.K + 1) + j);
          if (i === undefined) throw new Error(`insertionRates: slot ${j} of gap ${g} was not fetched`);
          return probs[b][i];
        });
      });
    },
  };
}
