import { tensor, type Tensor } from "../core/tensor.js";
import type { Objective } from "../train/types.js";
import type { RankNoise } from "../processes/counted.js";
import type { CategoricalModel } from "./denoiser.js";
import { nelboSummary, type MaskingLike, type NelboResult } from "./elbo.js";

/**
 * The autoregressive baseline (src/processes/autoregressive.ts): training
 * and its exact likelihood.
 *
 * Training is teacher forcing: the network sees x0 itself, and a causal
 * network's output i depends on x0_<i only, so one forward gives every
 * conditional q(x0_i | x0_<i); the loss is their mean -log q over all
 * positions, which is exactly the negative log-likelihood in nats per
 * character (the chain rule), not a bound.
 */
export function autoregressiveObjective(): Objective<Tensor, RankNoise> & { description: Record<string, unknown> } {
  return {
    loss: "ce",
    description: { kind: "tokens", weight: "all positions", weighting: "chain rule (teacher forcing)" },
    input: (x0) => x0,
    target: (x0) => ({ target: x0, weight: tensor(x0.shape, new Float32Array(x0.data.length).fill(1)) }),
  };
}

/**
 * Exact held-out NLL by the chain rule: sum_i -log q(x0_i | x_t) with x_t =
 * x0 whose positions i..L-1 are masked (the process's x_t at t = (L - i)/L).
 * `causal`: the model's output at i ignores positions >= i (a causal
 * Transformer), so ONE forward on x0 gives all L terms; otherwise each row
 * takes L forwards, one per masked suffix (any model, e.g. the exact oracle).
 * The standard error is over rows (the data's own spread: no Monte Carlo).
 */
export async function autoregressiveNll(model: CategoricalModel, process: MaskingLike, data: Tensor, opts: { causal: boolean; batch?: number }): Promise<NelboResult> {
  const [M, L] = data.shape;
  const V = model.vocab;
  const maskId = process.maskId;
  if (maskId === null) throw new Error("autoregressiveNll: the process has no [MASK] id");
  const batch = opts.batch ?? 256;
  const perRow = new Float64Array(M);
  // The inputs of one row: x0 (causal), or its L suffix-masked copies.
  const copies = opts.causal ? 1 : L;
  for (let r0 = 0; r0 < M; r0 += Math.max(1, Math.floor(batch / copies))) {
    const rows = Math.min(M - r0, Math.max(1, Math.floor(batch / copies)));
    const xt = new Float32Array(rows * copies * L);
    const ts = new Float32Array(rows * copies);
    for (let r = 0; r < rows; r++) {
      const x0 = data.data.subarray((r0 + r) * L, (r0 + r + 1) * L);
      for (let c = 0; c < copies; c++) {
        const off = (r * copies + c) * L;
        xt.set(x0, off);
        if (!opts.causal) xt.fill(maskId, off + c, off + L);
        ts[r * copies + c] = opts.causal ? 1 : (L - c) / L;
      }
    }
    const logp = await model.logProbs(tensor([rows * copies, L], xt), ts);
    for (let r = 0; r < rows; r++) {
      let nll = 0;
      for (let i = 0; i < L; i++) {
        const c = opts.causal ? 0 : i;
        nll -= logp[((r * copies + c) * L + i) * V + data.data[(r0 + r) * L + i]];
      }
      perRow[r0 + r] = nll;
    }
  }
  return nelboSummary(perRow, L);
}
