import type { Process } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import type { Tensor } from "../core/tensor.js";

/**
 * Shared pieces of the token processes (masking, replacement and their
 * counted forms). Token sequences are Tensors [B, L] of integer ids stored
 * as float values; ids 0..V-1 are the vocabulary, id V is [MASK].
 */

/**
 * A process over token sequences that also knows its own likelihood
 * p(x_t | x0) for one row. The likelihood is never used by the sampler; it
 * is what makes exact posteriors p(x0 | x_t) ∝ p(x0) p(x_t | x0) computable
 * by enumeration (src/oracles/enumerable.ts).
 */
export interface TokenProcess<E> extends Process<Tensor, E> {
  /** Vocabulary size V: data tokens are 0..V-1 (masking adds [MASK] = V). */
  readonly vocab: number;
  /** The id of [MASK], or null when the process never masks. */
  readonly maskId: number | null;
  /** p(x_t = xt | x0) for one row of length L at time t. */
  likelihood(x0: ArrayLike<number>, xt: ArrayLike<number>, t: number): number;
  /**
   * The support of p(x_t | x0) seen from x0: x_t is possible iff the number
   * of positions where x0 and x_t differ lies in [min, max] (and, for
   * masking, visible tokens agree). A learned denoiser restricts its x0_hat
   * to this set, since posteriorNoise is undefined outside it (e.g. under
   * "different" at m = 1 every token must have changed).
   */
  changedRange(t: number, L: number): [number, number];
}

/** Sequence length L of a [B, L] token batch, with a clear error for other shapes. */
export function seqShape(where: string, x: { shape: readonly number[] }): [number, number] {
  if (x.shape.length !== 2) throw new Error(`${where}: token batches have shape [B, L], got [${x.shape.join(", ")}]`);
  return [x.shape[0], x.shape[1]];
}

/** Check that every entry is an integer id in 0..max-1. */
export function checkIds(where: string, x: Tensor, max: number): void {
  const d = x.data;
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    if (!(Number.isInteger(v) && v >= 0 && v < max)) {
      throw new Error(`${where}: entry ${i} is ${v}, token ids must be integers in 0..${max - 1}`);
    }
  }
}

/**
 * A float32 value drawn uniformly from [lo, hi). Noise lives in Float32Arrays,
 * and rounding lo + (hi - lo) U to float32 could land outside the interval
 * (then F_t would disagree with the x_t it must reproduce), so redraw.
 */
export function uniformIn(lo: number, hi: number, rng: Rng): number {
  for (let tries = 0; tries < 64; tries++) {
    const v = Math.fround(lo + (hi - lo) * rng.uniform());
    if (v >= lo && v < hi) return v;
  }
  throw new Error(`uniformIn: no float32 value in [${lo}, ${hi})`);
}

/** The destruction level m(t) clamped to [0, 1], checked. */
export function level(m: (t: number) => number, t: number, where: string): number {
  const v = m(t);
  if (!(v >= 0 && v <= 1)) throw new Error(`${where}: the destruction schedule gave m(${t}) = ${v}, outside [0, 1]`);
  return v;
}

/** Binomial coefficient C(n, k) as a float (exact for the small n used by oracles). */
export function choose(n: number, k: number): number {
  if (k < 0 || k > n) return 0;
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
}
