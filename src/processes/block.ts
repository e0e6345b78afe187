import { toSchedule, type Destruction, type Schedule } from "../core/schedule.js";
import type { Tensor } from "../core/tensor.js";
import { absorbing } from "./absorbing.js";
import { level, type TokenProcess } from "./tokens.js";

/**
 * Block diffusion (BD3-LM, Arriola et al. 2025) as ONE destruction process
 * on [0, 1]: the sequence is cut into K = L / B blocks of B tokens, and as t
 * rises the blocks are masked one after the other, the last block first.
 * Block b (0-based, from the left) has its own local time
 *   tau_b(t) = clamp(K t - (K - 1 - b), 0, 1),
 * and position i of block b is [MASK] iff u_i < m(tau_b(t)) (absorbing.ts with
 * one level per block). At a time t in block b's interval
 * ((K-1-b)/K, (K-b)/K], the blocks before b are clean, b is partly masked
 * and the blocks after b are all [MASK].
 *
 * So the one sampler, run from t = 1 to 0, generates block 0 by masking
 * diffusion, then block 1 given block 0, and so on: autoregressive over
 * blocks, diffusion within one. B = L is masking (MDLM); B = 1 is
 * left-to-right autoregression. Its NELBO is the sum over blocks of each
 * block's masking NELBO given the clean blocks before it
 * (src/text/block.ts), a bound that approaches the autoregressive
 * likelihood as B shrinks.
 *
 * A sampling step must not cross a block boundary: the network reads the
 * blocks before the current one as clean context. grid boundaries k/K are
 * therefore checked by the CLI (a uniform grid with a multiple of K steps).
 */
export interface BlockMaskingProcess extends TokenProcess<Tensor> {
  /** m(t) within one block (tau -> level). */
  readonly schedule: Schedule;
  readonly maskId: number;
  /** Tokens per block B, blocks K = length / B. */
  readonly block: number;
  readonly length: number;
  readonly blocks: number;
  /** Per-position masking level m(tau_b(t)) of one row at global time t. */
  levels(t: number): Float64Array;
}

export interface BlockMaskingOptions {
  vocab: number;
  /** Sequence length L (a multiple of block). */
  length: number;
  /** Tokens per block B (1 <= B <= L, dividing L). */
  block: number;
  /** m(tau) within a block (default linear). */
  schedule?: Schedule | Destruction;
  scheduleName?: string;
}

/** The local time of block b of K at global time t. */
export function blockTime(t: number, b: number, K: number): number {
  return Math.min(1, Math.max(0, K * t - (K - 1 - b)));
}

export function blockMasking(opts: BlockMaskingOptions): BlockMaskingProcess {
  const V = opts.vocab;
  const L = opts.length;
  const B = opts.block;
  if (!(Number.isInteger(V) && V >= 1)) throw new Error(`blockMasking: vocab must be a positive integer, got ${V}`);
  if (!(Number.isInteger(L) && L >= 1)) throw new Error(`blockMasking: length must be a positive integer, got ${L}`);
  if (!(Number.isInteger(B) && B >= 1 && B <= L && L % B === 0)) throw new Error(`blockMasking: block must be an integer in 1..${L} dividing the length ${L}, got ${B}`);
  const K = L / B;
  const schedule = toSchedule(opts.schedule, opts.scheduleName);
  const name = `block-masking(B=${B}, ${schedule.name}, V=${V}, L=${L})`;
  const levels = (t: number): Float64Array => {
    const out = new Float64Array(L);
    for (let b = 0; b < K; b++) out.fill(level((s) => schedule.m(s), blockTime(t, b, K), name), b * B, b * B + B);
    return out;
  };
  return { name, time: { kind: "continuous" }, vocab: V, maskId: V, schedule, block: B, length: L, blocks: K, levels, ...absorbing({ name, vocab: V, levels, length: L }) };
}
