import type { Rng } from "../core/rng.js";
import { tensor, type Tensor } from "../core/tensor.js";
import type { BlockMaskingProcess } from "../processes/block.js";
import type { Objective } from "../train/types.js";
import type { CategoricalModel } from "./denoiser.js";
import { masking } from "../processes/masking.js";
import { nelboSummary, type NelboResult } from "./elbo.js";
import { tokenObjective } from "./objective.js";

/**
 * Training and the bound of block diffusion (src/processes/block.ts).
 *
 * Training is BD3-LM's vectorised form: the trainer's global t becomes one
 * local time tau (uniform on (0, 1] when t is), EVERY block is masked at
 * level m(tau) with the row's noise u, and the block network
 * (transformer `block`) reads [x_t, x0]: with its block-causal attention,
 * block b's logits depend on x0 of the blocks before b and x_t of block b
 * only, exactly what the one sampler asks of it when block b is the
 * current block. So one forward trains all K blocks at once, each at the
 * same local time (each block's term is unbiased; they are correlated).
 */

/** The local time of every block for the trainer's global t: tau = K t - ceil(K t) + 1, in (0, 1]. */
export function localTime(t: number, K: number): number {
  return t <= 0 ? 0 : Math.min(1, K * t - Math.ceil(K * t) + 1);
}

/** The masking that acts within one block (the block process's schedule and [MASK] id), run at the local times. */
function withinBlock(process: BlockMaskingProcess) {
  const within = masking({ vocab: process.vocab, schedule: process.schedule });
  return { within, local: (t: Float32Array) => Float32Array.from(t, (s) => localTime(s, process.blocks)) };
}

/** x0 with every block masked where u_i < m(tau) (the vectorised training input's noisy half): masking at the local time. */
export function maskAllBlocks(process: BlockMaskingProcess, x0: Tensor, t: Float32Array, u: Tensor): Tensor {
  const { within, local } = withinBlock(process);
  return within.forward(x0, local(t), u);
}

/**
 * The loss over the masked tokens of all blocks: "mean" (the plain mean
 * cross-entropy) or "elbo" (each weighs m'(tau)/m(tau), summed and divided
 * by the characters: an unbiased estimate of the block NELBO below, in
 * nats per character).
 */
export function blockObjective(process: BlockMaskingProcess, opts: { weighting?: "mean" | "elbo" } = {}): Objective<Tensor, Tensor> & { description: Record<string, unknown> } {
  const weighting = opts.weighting ?? "mean";
  // Within a block it is masking's objective at the local time (its weights: 1, or m'(tau)/m(tau) on masked tokens).
  const { within, local } = withinBlock(process);
  const inner = tokenObjective(within, { weighting });
  // input() and target() are called with the same batch (x0, t, u): mask it once.
  let last: { x0: Tensor; t: Float32Array; u: Tensor; tau: Float32Array; noisy: Tensor } | undefined;
  const noisyOf = (x0: Tensor, t: Float32Array, u: Tensor) => {
    if (last?.x0 !== x0 || last.t !== t || last.u !== u) {
      const tau = local(t);
      last = { x0, t, u, tau, noisy: within.forward(x0, tau, u) };
    }
    return last;
  };
  return {
    loss: inner.loss,
    description: { kind: "tokens", weight: "masked positions of every block", weighting, process: process.name, input: "[x_t, x0], all blocks at one local time" },
    input(x0, _xt, t, u) {
      const [rows, L] = x0.shape;
      const { noisy } = noisyOf(x0, t, u);
      const both = new Float32Array(rows * 2 * L);
      for (let r = 0; r < rows; r++) {
        both.set(noisy.data.subarray(r * L, r * L + L), r * 2 * L);
        both.set(x0.data.subarray(r * L, r * L + L), r * 2 * L + L);
      }
      return tensor([rows, 2 * L], both);
    },
    target(x0, _xt, t, u) {
      const { noisy, tau } = noisyOf(x0, t, u);
      return inner.target(x0, noisy, tau, u);
    },
  };
}

/**
 * The NELBO of block diffusion in its count form: the sum over blocks of
 * each block's masking NELBO given the clean blocks before it,
 *   NELBO(x0) = sum_b sum_{k=1}^{B} (1/k) E_{|M| = k, M in block b} [ sum_{i in M} -log q(x0_i | x_t) ]
 *            = sum_b E_{k ~ U{1..B}} [ (B/k) sum_{i in M} -log q(x0_i | x_t) ],
 * with x_t = x0 with the blocks after b all [MASK] and M masked in block b
 * (the process's x_t while block b is current; src/text/elbo.ts derives the
 * one-block form). Every block is scored; the Monte Carlo is only over
 * (k, M) within a block. With the exact posterior it is -log p(x0)
 * (test/block.test.ts). B = 1 is the exact chain rule.
 *
 * `vectorised` (for a block network, transformer `block`): one model row
 * [x_t, x0] per draw holds every block's mask set at once, and the
 * block-causal network scores all K blocks in one forward; otherwise K
 * rows of x_t per draw, one per block (any model, e.g. the exact oracle).
 * Both use the same draws and give the same number for a block network.
 */
export async function blockNelbo(
  model: CategoricalModel,
  process: BlockMaskingProcess,
  data: Tensor,
  opts: { rng: Rng; samplesPerSeq?: number; batch?: number; vectorised?: boolean },
): Promise<NelboResult> {
  const [M, L] = data.shape;
  if (L !== process.length) throw new Error(`blockNelbo: rows have length ${L}, the process was built for ${process.length}`);
  const V = model.vocab;
  const { block: B, blocks: K, maskId } = process;
  const S = opts.samplesPerSeq ?? 1;
  if (!(Number.isInteger(S) && S >= 1)) throw new Error(`blockNelbo: samplesPerSeq must be a positive integer, got ${S}`);
  const vec = opts.vectorised ?? false;
  // Model rows per draw, and the width of one model row.
  const copies = vec ? 1 : K;
  const width = vec ? 2 * L : L;
  const perCall = Math.max(1, Math.floor((opts.batch ?? 256) / (S * copies)));
  const perRow = new Float64Array(M);
  for (let r0 = 0; r0 < M; r0 += perCall) {
    const rows = Math.min(perCall, M - r0);
    const n = rows * S * copies;
    const xt = new Float32Array(n * width);
    const ts = new Float32Array(n);
    // B/k on the masked positions of the block each model row scores (per block b, in row-major draws).
    const weight = new Float64Array(rows * S * L);
    for (let r = 0; r < rows; r++) {
      const x0 = data.data.subarray((r0 + r) * L, (r0 + r + 1) * L);
      for (let s = 0; s < S; s++) {
        const draw = r * S + s;
        if (vec) {
          xt.set(x0, draw * width);
          xt.set(x0, draw * width + L);
          ts[draw] = 0.5; // the block network has no time input
        }
        for (let b = 0; b < K; b++) {
          const k = 1 + opts.rng.int(B);
          const order = opts.rng.permutation(B);
          // The sequential row: x0, block b masked at M, the blocks after it all [MASK].
          const off = vec ? draw * width : (draw * K + b) * L;
          if (!vec) {
            xt.set(x0, off);
            xt.fill(maskId, off + (b + 1) * B, off + L);
            // The global time at which block b is current with k of B masked (linear m).
            ts[draw * K + b] = (K - 1 - b + k / B) / K;
          }
          for (let j = 0; j < k; j++) {
            xt[off + b * B + order[j]] = maskId;
            weight[draw * L + b * B + order[j]] = B / k;
          }
        }
      }
    }
    const logp = await model.logProbs(tensor([n, width], xt), ts);
    for (let r = 0; r < rows; r++) {
      let total = 0;
      for (let s = 0; s < S; s++) {
        const draw = r * S + s;
        for (let i = 0; i < L; i++) {
          const w = weight[draw * L + i];
          if (w === 0) continue;
          // The model row that scores position i: the draw's row, or its block's sequential row. Logits are [rows, L, V].
          const row = vec ? draw : draw * K + Math.floor(i / B);
          total -= w * logp[(row * L + i) * V + data.data[(r0 + r) * L + i]];
        }
      }
      perRow[r0 + r] = total / S;
    }
  }
  return nelboSummary(perRow, L);
}
