import type { Denoiser } from "../core/denoiser.js";
import { padRows, rowTokens } from "../core/padded.js";
import type { Rng } from "../core/rng.js";
import type { Tensor } from "../core/tensor.js";
import { gapCounts } from "../processes/alignment.js";

/**
 * The variable-length counterpart of enumerable.ts: a distribution over ALL
 * strings of length 0..maxLength over V symbols (31 strings for V = 2,
 * maxLength = 4), as padded batches with PAD = V. Under a process that knows
 * its likelihood p(x_t | x0) for a pair of rows (deletion), the posterior is
 * exact by enumeration:
 *   p(x0 | x_t) ∝ p(x0) p(x_t | x0)
 *   (deletion: ∝ p(x0) N(x_t, x0) m^(|x0|-|x_t|) (1-m)^|x_t|).
 */
export interface StringDist {
  V: number;
  maxLength: number;
  /** Every string, shortest first. */
  strings: number[][];
  probs: Float64Array;
}

/** A process over padded sequences that knows p(x_t | x0) for one pair of unpadded rows. */
export interface SequenceLikelihood {
  readonly name: string;
  likelihood(x0: ArrayLike<number>, xt: ArrayLike<number>, t: number): number;
}

/** All strings of length 0..maxLength, weighted by `weight(s)` (normalised). */
export function stringDist(V: number, maxLength: number, weight: (s: number[]) => number): StringDist {
  const strings: number[][] = [[]];
  for (let len = 1; len <= maxLength; len++) {
    const count = V ** len;
    for (let idx = 0; idx < count; idx++) {
      const s = new Array<number>(len);
      for (let i = len - 1, r = idx; i >= 0; i--, r = Math.floor(r / V)) s[i] = r % V;
      strings.push(s);
    }
  }
  const w = Float64Array.from(strings, (s) => weight(s));
  const total = w.reduce((a, b) => a + b, 0);
  w.forEach((v, i) => {
    if (!(v >= 0)) throw new Error(`stringDist: the weight of [${strings[i].join(", ")}] is ${v}, weights must be >= 0`);
  });
  if (!(total > 0)) throw new Error("stringDist: the weights sum to 0");
  return { V, maxLength, strings, probs: w.map((v) => v / total) };
}

/**
 * The test distribution: all 31 strings of length 0..4 over 2 symbols,
 * lengths unequally likely (3 and 4 common, the empty string rare), with
 * correlated neighbours (repeats favoured, a leading 1 favoured, a 0
 * after a 1 at the end penalised); probabilities from about 0.0025 to 0.12.
 */
export function testSequences(): StringDist {
  const lengthBias = [0, 1.2, 1.4, 0.9, 0.1];
  return stringDist(2, 4, (s) => {
    let e = lengthBias[s.length];
    for (let i = 1; i < s.length; i++) e += s[i] === s[i - 1] ? 0.7 : -0.3;
    if (s[0] === 1) e += 0.6;
    if (s.length >= 2 && s[s.length - 1] === 0 && s[s.length - 2] === 1) e -= 0.8;
    return Math.exp(e);
  });
}

const key = (s: ArrayLike<number>) => Array.from(s).join(",");

/** n strings drawn from the distribution, as a padded batch [n, maxLength]. */
export function sampleStrings(dist: StringDist, n: number, rng: Rng): Tensor {
  return padRows(Array.from({ length: n }, () => dist.strings[rng.categorical(dist.probs)]), dist.maxLength, dist.V);
}

/** How often each string occurs in a padded batch (a row outside the distribution's strings is an error). */
export function stringCountsOf(dist: StringDist, x: Tensor): Float64Array {
  const index = new Map(dist.strings.map((s, i) => [key(s), i]));
  const counts = new Float64Array(dist.strings.length);
  for (let b = 0; b < x.shape[0]; b++) {
    const row = rowTokens(x, b, dist.V);
    const i = index.get(key(row));
    if (i === undefined) throw new Error(`stringCountsOf: row ${b} is [${Array.from(row).join(", ")}], not one of the distribution's strings`);
    counts[i]++;
  }
  return counts;
}

/** p(x0 | x_t) over dist.strings for one unpadded row x_t. */
export function sequencePosterior(dist: StringDist, process: SequenceLikelihood, xt: ArrayLike<number>, t: number): Float64Array {
  const post = Float64Array.from(dist.strings, (s, i) => (dist.probs[i] > 0 ? dist.probs[i] * process.likelihood(s, xt, t) : 0));
  const total = post.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new Error(`sequencePosterior: x_t = [${Array.from(xt).join(", ")}] has probability 0 at t = ${t} under ${process.name}`);
  return post.map((p) => p / total);
}

/** The exact denoiser: x0_hat drawn from p(x0 | x_t), row by row. */
export function sequenceDenoiser(dist: StringDist, process: SequenceLikelihood): Denoiser {
  return {
    sample(xt: Tensor, t: number, rng: Rng): Tensor {
      if (xt.shape[1] !== dist.maxLength) throw new Error(`sequenceDenoiser: x_t rows hold ${xt.shape[1]} positions, the distribution ${dist.maxLength}`);
      // One posterior per distinct x_t in the batch (there are few).
      const cache = new Map<string, Float64Array>();
      const rows = Array.from({ length: xt.shape[0] }, (_, b) => {
        const y = rowTokens(xt, b, dist.V);
        const k = key(y);
        let post = cache.get(k);
        if (!post) cache.set(k, (post = sequencePosterior(dist, process, y, t)));
        return dist.strings[rng.categorical(post)];
      });
      return padRows(rows, dist.maxLength, dist.V);
    },
  };
}

/**
 * The exact expected insertions rho(g, v) = E[#tokens v missing in gap g | x_t]
 * for one row under deletion: the posterior mixture of each x0's uniform-
 * alignment gap counts. [(|x_t| + 1) * V].
 */
export function exactGapCounts(dist: StringDist, process: SequenceLikelihood, xt: ArrayLike<number>, t: number): Float64Array {
  const post = sequencePosterior(dist, process, xt, t);
  const rho = new Float64Array((xt.length + 1) * dist.V);
  post.forEach((p, i) => {
    if (p === 0) return;
    const r = gapCounts(dist.strings[i], xt, dist.V);
    for (let j = 0; j < rho.length; j++) rho[j] += p * r[j];
  });
  return rho;
}

