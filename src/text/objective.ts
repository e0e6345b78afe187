import { tensor, type Tensor } from "../core/tensor.js";
import type { Objective } from "../train/types.js";
import type { TokenProcess } from "../processes/tokens.js";

/**
 * The token cross-entropy of DESIGN.md section 1 for a token process:
 * target = x0 ids, loss 'ce' over the network's logits [B, L, V], weight =
 * which positions count:
 * - masking (the process has a [MASK] id): the masked positions only; the
 *   visible ones are certain (x0_i = x_t,i), there is nothing to learn.
 * - replacement: EVERY position. Which positions were replaced cannot be
 *   read off x_t (a kept token and a replaced one look alike), and the
 *   sampler draws x0_hat at every position, so q(x0_i | x_t) is needed
 *   everywhere; training only on the destroyed positions would learn
 *   p(x0_i | x_t, i destroyed) instead.
 * The loss is the weighted mean sum(w l) / sum(w) (src/train/loss.ts).
 */
export function tokenObjective<E>(process: TokenProcess<E>): Objective<Tensor, E> & { description: Record<string, unknown> } {
  const maskId = process.maskId;
  return {
    loss: "ce",
    description: { kind: "tokens", weight: maskId === null ? "all positions" : "masked positions", process: process.name },
    target(x0, xt) {
      const w = new Float32Array(xt.data.length);
      for (let i = 0; i < w.length; i++) w[i] = maskId === null || xt.data[i] === maskId ? 1 : 0;
      return { target: x0, weight: tensor(xt.shape, w) };
    },
  };
}
