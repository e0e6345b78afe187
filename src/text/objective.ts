import type { Array as JArray } from "@jax-js/jax";
import { tensor, type Tensor } from "../core/tensor.js";
import type { Process } from "../core/process.js";
import type { Schedule } from "../core/schedule.js";
import { weightedSumLoss, weightedSumSums } from "../train/loss.js";
import type { LossFn, Objective } from "../train/types.js";
import type { TokenProcess } from "../processes/tokens.js";
import { maskingCountWeights, maskingElboWeight } from "./elbo.js";
import { replacementElboObjective } from "./replacement-loss.js";

/**
 * How the token cross-entropy is weighted across positions and times:
 * - "mean": the plain mean of -log q over the positions that count (what
 *   the library did first; every masked token weighs the same at every t).
 * - "elbo": the loss is an unbiased estimate of the process's NELBO in nats
 *   per character, the number `udm eval --nll` reports. Masking: each
 *   masked token weighs w(t) = m'(t)/m(t) (or its count form on a discrete
 *   grid, src/text/elbo.ts), summed and divided by the number of
 *   characters (MDLM's objective). Replacement "uniform": the uniform-jump
 *   score-entropy bound itself (src/text/replacement-loss.ts; UDLM's).
 * - "count" (masking): the same unbiased NELBO estimate with each row's
 *   weight E[m'(t)/m(t) | K] given its number K of masked tokens
 *   (maskingCountWeights): the count form `udm eval --nll` estimates, with
 *   bounded weights. On a discrete grid the ELBO weight already depends
 *   on the count only, and "count" is "elbo".
 */
export type TokenWeighting = "mean" | "elbo" | "count";

export const tokenWeightings = ["mean", "elbo", "count"] as const;

/** sum(w * CE) / (B L): the ELBO weights are absolute. Its two sums let a big batch run as micro-batches. */
const elboLoss: LossFn = Object.assign((out: JArray, target: JArray, weight: JArray) => weightedSumLoss("ce", out, target, weight), {
  sums: (out: JArray, target: JArray, weight: JArray) => weightedSumSums("ce", out, target, weight),
});

/**
 * The token cross-entropy of DESIGN.md section 1 for a token process:
 * target = x0 ids, loss over the network's logits [B, L, V], weight =
 * which positions count:
 * - masking (the process has a [MASK] id): the masked positions only; the
 *   visible ones are certain (x0_i = x_t,i), there is nothing to learn.
 * - replacement: EVERY position. Which positions were replaced cannot be
 *   read off x_t (a kept token and a replaced one look alike), and the
 *   sampler draws x0_hat at every position, so q(x0_i | x_t) is needed
 *   everywhere; training only on the destroyed positions would learn
 *   p(x0_i | x_t, i destroyed) instead.
 * "mean" weighting is the weighted mean sum(w l) / sum(w) (src/train/loss.ts);
 * "elbo" is described at TokenWeighting.
 */
export function tokenObjective<E>(
  process: TokenProcess<E> & { count?(t: number): number },
  opts: { weighting?: TokenWeighting } = {},
): Objective<Tensor, E> & { description: Record<string, unknown> } {
  const maskId = process.maskId;
  const weighting = opts.weighting ?? "mean";
  if (weighting === "elbo" && maskId === null) {
    // Replacement: its own bound as the loss (continuous "uniform" only).
    const rep = process as TokenProcess<E> & { schedule?: Schedule; variant?: string };
    if (!rep.schedule || process.time.kind !== "continuous") throw new Error(`tokenObjective: "elbo" weighting needs a continuous-time masking or replacement process, got ${process.name} (use "mean")`);
    return replacementElboObjective({ vocab: process.vocab, schedule: rep.schedule, variant: rep.variant }) as Objective<Tensor, E> & { description: Record<string, unknown> };
  }
  if (weighting === "count" && maskId === null) throw new Error(`tokenObjective: "count" weighting needs a masking process, got ${process.name} (use "elbo" or "mean")`);
  const masking = process as Process<Tensor, E> & { maskId: number; schedule: Schedule };
  const byCount = weighting === "count" && process.time.kind === "continuous";
  // The row weight: from the row's t, or (count form) from how many of its tokens are masked.
  let counts: { L: number; w: Float64Array } | undefined;
  const rowWeight = (t: number, xt: Tensor, b: number): number => {
    if (weighting === "mean") return 1;
    if (!byCount) return maskingElboWeight(masking, t);
    const L = xt.shape[1];
    if (counts?.L !== L) counts = { L, w: maskingCountWeights(masking.schedule, L) };
    let K = 0;
    for (let i = b * L; i < b * L + L; i++) if (xt.data[i] === maskId) K++;
    return counts.w[K];
  };
  return {
    loss: weighting === "mean" ? "ce" : elboLoss,
    description: { kind: "tokens", weight: maskId === null ? "all positions" : "masked positions", weighting, process: process.name },
    target(x0, xt, t) {
      const L = xt.shape[1];
      const out = new Float32Array(xt.data.length);
      for (let b = 0; b < xt.shape[0]; b++) {
        const wb = rowWeight(t[b], xt, b);
        for (let i = b * L; i < b * L + L; i++) out[i] = maskId === null || xt.data[i] === maskId ? wb : 0;
      }
      return { target: x0, weight: tensor(xt.shape, out) };
    },
  };
}
