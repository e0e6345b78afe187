import { timeAt, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import { toSchedule, type Destruction, type Schedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { replacementCodes, type ReplacementVariant } from "./replacement.js";
import { checkIds, choose, level, seqShape, type TokenProcess } from "./tokens.js";

/**
 * The discrete-count forms of masking and replacement: at time t EXACTLY
 *   n(t) = round(m(t) L)
 * of the L positions are destroyed. The time domain is discrete with L steps,
 * t_j = j / L; with the linear m(t) exactly j positions are destroyed at t_j.
 *
 * eps = (rank, k): rank is a uniformly random ranking of the positions (a
 * permutation of 0..L-1; position i is destroyed iff rank_i < n(t)) and k the
 * replacement codes of replacement.ts (unused by masking).
 *
 * Posterior noise: the destroyed set D is read off x_t (masking: the [MASK]
 * positions; replacement: the changed positions, plus, for "uniform", n - |D|
 * unchanged positions chosen uniformly, which were replaced by themselves);
 * then a uniformly random ranking with D first, in random order, then the
 * rest in random order. Every ranking consistent with x_t is equally likely
 * a priori, so this is exactly q(eps | x0, x_t).
 *
 * Kernel K_r: each position joins a shuffle with probability r; the ranks of
 * the joined positions are permuted uniformly among themselves and their
 * codes redrawn. Composing a uniform permutation with an independent random
 * permutation leaves it uniform, so q(eps) is invariant; r = 0 keeps eps,
 * r = 1 draws a fresh ranking.
 */
export interface RankNoise {
  rank: Tensor;
  k: Tensor;
}

/** A counted process; n(t) = round(m(t) L) with m = `schedule.m`. */
export interface CountedProcess extends TokenProcess<RankNoise> {
  readonly schedule: Schedule;
  /** n(t) = round(m(t) L): how many positions are destroyed at time t. */
  count(t: number): number;
}

export interface CountedOptions {
  vocab: number;
  /** Sequence length L (also the number of time steps). */
  length: number;
  /** m(t): a Schedule or a bare function (default linear). */
  schedule?: Schedule | Destruction;
  scheduleName?: string;
}

type Kind = { kind: "masking" } | { kind: "replacement"; variant: ReplacementVariant };

export function countedMasking(opts: CountedOptions): CountedProcess {
  return counted(opts, { kind: "masking" });
}

export function countedReplacement(opts: CountedOptions & { variant?: ReplacementVariant }): CountedProcess {
  return counted(opts, { kind: "replacement", variant: opts.variant ?? "uniform" });
}

function counted(opts: CountedOptions, kind: Kind): CountedProcess {
  const V = opts.vocab;
  const L = opts.length;
  if (!(Number.isInteger(V) && V >= 1)) throw new Error(`counted: vocab must be a positive integer, got ${V}`);
  if (!(Number.isInteger(L) && L >= 1)) throw new Error(`counted: length must be a positive integer, got ${L}`);
  const schedule = toSchedule(opts.schedule, opts.scheduleName);
  const m = (t: number) => schedule.m(t);
  const isMask = kind.kind === "masking";
  const codes = isMask ? null : replacementCodes(V, kind.variant);
  const MASK = V;
  const label = isMask ? "masking" : `replacement-${(kind as { variant: string }).variant}`;
  const name = `counted-${label}(${schedule.name}, V=${V}, L=${L})`;
  const count = (t: number) => Math.round(level(m, t, name) * L);
  const drawCode = (rng: Rng) => (codes ? codes.drawCode(rng) : 0);
  const check = (where: string, x: { shape: readonly number[] }) => {
    const [B, len] = seqShape(`${name}.${where}`, x);
    if (len !== L) throw new Error(`${name}.${where}: sequences have length ${len}, this process was built for length ${L}`);
    return B;
  };

  /** Write a uniformly random ranking into rank[off..off+L): positions of `first` get 0..|first|-1. */
  function rankWithFirst(rank: Float32Array, off: number, first: number[], rest: number[], rng: Rng): void {
    const pf = rng.permutation(first.length);
    first.forEach((pos, j) => (rank[off + pos] = pf[j]));
    const pr = rng.permutation(rest.length);
    rest.forEach((pos, j) => (rank[off + pos] = first.length + pr[j]));
  }

  return {
    name,
    time: { kind: "discrete", steps: L },
    vocab: V,
    maskId: isMask ? MASK : null,
    schedule,
    count,
    noise(shape, rng) {
      const B = check("noise", { shape });
      const rank = new Float32Array(B * L);
      const k = new Float32Array(B * L);
      for (let b = 0; b < B; b++) {
        rank.set(rng.permutation(L), b * L);
        for (let i = 0; i < L; i++) k[b * L + i] = drawCode(rng);
      }
      return { rank: tensor(shape, rank), k: tensor(shape, k) };
    },
    forward(x0: Tensor, t: Time, eps: RankNoise): Tensor {
      const B = check("forward", x0);
      checkIds(`${name}.forward x0`, x0, V);
      const out = new Float32Array(B * L);
      for (let b = 0; b < B; b++) {
        const n = count(timeAt(t, b));
        for (let i = b * L; i < b * L + L; i++) {
          const x = x0.data[i];
          out[i] = eps.rank.data[i] < n ? (codes ? codes.token(x, eps.k.data[i]) : MASK) : x;
        }
      }
      return tensor(x0.shape, out);
    },
    posteriorNoise(x0: Tensor, xt: Tensor, t: Time, rng: Rng): RankNoise {
      const B = check("posteriorNoise", xt);
      const rank = new Float32Array(B * L);
      const k = new Float32Array(B * L);
      for (let b = 0; b < B; b++) {
        const n = count(timeAt(t, b));
        const where = `${name}.posteriorNoise: row ${b} at t = ${timeAt(t, b)} (n = ${n} destroyed)`;
        const changed: number[] = [];
        const same: number[] = [];
        for (let i = 0; i < L; i++) {
          const a = x0.data[b * L + i];
          const x = xt.data[b * L + i];
          if (isMask && x !== MASK && x !== a) throw new Error(`${where}: position ${i} is visible in x_t (${x}) but x0 has ${a}; a masking denoiser must keep visible tokens`);
          (x === a ? same : changed).push(i);
          k[b * L + i] = x === a || !codes ? drawCode(rng) : codes.codeOf(a, x);
        }
        const extra = n - changed.length;
        const selfOk = codes !== null && kind.kind === "replacement" && kind.variant === "uniform";
        if (extra < 0 || (extra > 0 && !selfOk)) {
          throw new Error(`${where}: x_t has ${changed.length} destroyed positions, but exactly ${n} are destroyed at this time`);
        }
        // "uniform" replacement: `extra` unchanged positions were replaced by themselves.
        const pick = rng.permutation(same.length);
        const selfReplaced = Array.from(pick.subarray(0, extra), (j) => same[j]);
        for (const i of selfReplaced) k[b * L + i] = x0.data[b * L + i];
        const destroyed = changed.concat(selfReplaced);
        const rest = Array.from(pick.subarray(extra), (j) => same[j]);
        rankWithFirst(rank, b * L, destroyed, rest, rng);
      }
      return { rank: tensor(xt.shape, rank), k: tensor(xt.shape, k) };
    },
    kernel(eps: RankNoise, r: number, rng: Rng): RankNoise {
      if (r === 0) return eps;
      const B = check("kernel", eps.rank);
      const rank = Float32Array.from(eps.rank.data);
      const k = Float32Array.from(eps.k.data);
      for (let b = 0; b < B; b++) {
        const joined: number[] = [];
        for (let i = 0; i < L; i++) if (rng.uniform() < r) joined.push(b * L + i);
        const values = joined.map((i) => rank[i]);
        const perm = rng.permutation(joined.length);
        joined.forEach((i, j) => {
          rank[i] = values[perm[j]];
          k[i] = drawCode(rng);
        });
      }
      return { rank: tensor(eps.rank.shape, rank), k: tensor(eps.k.shape, k) };
    },
    prior(shape: readonly number[], rng: Rng): Tensor {
      const B = check("prior", { shape });
      const out = new Float32Array(B * L);
      for (let i = 0; i < out.length; i++) out[i] = isMask ? MASK : rng.int(V);
      return tensor(shape, out);
    },
    changedRange(t) {
      const n = count(t);
      // "uniform" may replace a token by itself, so fewer than n can differ.
      return kind.kind === "replacement" && kind.variant === "uniform" ? [0, n] : [n, n];
    },
    likelihood(x0, xt, t) {
      const n = count(t);
      let changed = 0;
      for (let i = 0; i < L; i++) {
        if (xt[i] !== x0[i]) {
          if (isMask && xt[i] !== MASK) return 0;
          changed++;
        }
      }
      // Every destroyed set D of size n is equally likely: 1 / C(L, n).
      if (isMask) return changed === n ? 1 / choose(L, n) : 0;
      if (kind.kind === "replacement" && kind.variant === "different") {
        return changed === n ? 1 / choose(L, n) / (V - 1) ** n : 0;
      }
      // "uniform": D contains the changed ones plus n - changed unchanged ones, each token 1/V.
      return choose(L - changed, n - changed) / choose(L, n) / V ** n;
    },
  };
}
