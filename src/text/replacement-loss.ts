import { nn, numpy as np, type Array as JArray } from "@jax-js/jax";
import type { Schedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import type { LossFn, Objective } from "../train/types.js";
import { scheduleSlope } from "./elbo.js";

/**
 * Replacement ("uniform") trained on its own NELBO: the continuous-time
 * uniform-jump bound of src/text/replacement-elbo.ts (D3PM -> SEDD's score
 * entropy; UDLM trains on it) written as a jax-js loss, so that with t ~ U(0, 1]
 * the training loss is an unbiased estimate of the bound in nats per
 * character (the prior term is 0 when m(1) = 1):
 *   loss = (beta(t) / V) sum_i sum_{w != x_t,i} f(s_iw, r_iw) / L,   beta = m'(t) / (1 - m(t)),
 *   f(s, r) = s - r - r log(s / r),
 *   s_iw = pi_i(x) c / (alpha + c) + pi_i(w) (alpha + c) / c + (1 - pi_i(x) - pi_i(w)),
 *   r_iw = q_t(w | x0_i) / q_t(x | x0_i),   alpha = 1 - m(t), c = (1 - alpha) / V, x = x_t,i,
 * pi_i the model's softmax. Unlike the plain cross-entropy this weighs each t
 * by how much the reverse rates matter there, and reaches every position
 * through the ratios s rather than through -log pi_i(x0_i).
 *
 * The loss needs x_t and m(t) besides x0, so this objective packs them:
 * target [B, L, 2] = (x0, x_t) ids, weight [B, L, 2] = (m, beta / (V L))
 * per row (a custom loss reads its own target and weight). m rather than
 * alpha travels because c = m / V must stay accurate in float32 when m is
 * tiny (1 - m would round to 1).
 *
 * Rows with m(t) < M_MIN carry no loss (MDLM likewise samples t >= 1e-3):
 * there the integrand is about (1 - pi(x_t,i)) / m per position, finite
 * only for a model that already predicts "kept" with probability 1 - O(m),
 * and its t-sampled estimate has no second moment, so one tiny t would give
 * one enormous gradient. The bound trained is the integral over
 * m >= M_MIN (it leaves out O(M_MIN) nats per character for a calibrated
 * model, e.g. the exact posterior); eval --nll integrates the same range and
 * closes it with the decoder term -log q(x0 | x_t at m = M_MIN).
 */
export const M_MIN = 1e-3;


/** The packed (x0, x_t) / (m, beta / (V L)) form; rows with m < M_MIN, or m = 1 (f = O(alpha) there), carry no loss. */
export function replacementElboObjective(process: { vocab: number; schedule: Schedule; variant?: string }): Objective<Tensor, unknown> & { description: Record<string, unknown> } {
  if (process.variant !== undefined && process.variant !== "uniform") {
    throw new Error(`replacement ELBO loss: defined for variant "uniform" (a Markov uniform-jump chain); "${process.variant}" has none`);
  }
  const V = process.vocab;
  const m = (t: number) => process.schedule.m(t);
  return {
    loss: replacementElboLoss,
    description: { kind: "tokens", weight: "all positions", weighting: "elbo (uniform-jump score entropy)" },
    target(x0, xt, t) {
      const [B, L] = xt.shape;
      const target = new Float32Array(B * L * 2);
      const weight = new Float32Array(B * L * 2);
      for (let b = 0; b < B; b++) {
        const mt = m(t[b]);
        const counts = mt >= M_MIN && mt < 1;
        for (let i = b * L; i < (b + 1) * L; i++) {
          target[2 * i] = x0.data[i];
          target[2 * i + 1] = xt.data[i];
          weight[2 * i] = counts ? mt : 0.5;
          weight[2 * i + 1] = counts ? scheduleSlope(m, t[b]) / (1 - mt) / (V * L) : 0;
        }
      }
      return { target: tensor([B, L, 2], target), weight: tensor([B, L, 2], weight) };
    },
  };
}

/**
 * The loss above on logits [B, L, V]; target and weight packed as [B, L, 2].
 * It is a sum over rows divided by B, so a batch splits into micro-batches
 * (`sums`: the sum and the row count).
 */
export const replacementElboLoss: LossFn = Object.assign((out: JArray, target: JArray, weight: JArray): JArray => {
  const [total, rows] = replacementElboSums(out, target, weight);
  return total.div(rows);
}, { sums: replacementElboSums });

function replacementElboSums(out: JArray, target: JArray, weight: JArray): [JArray, JArray] {
  const [B, L, V] = out.shape;
  const pick = (a: JArray, k: number) => a.slice([], [], [k, k + 1]); // [B, L, 1]
  const ohy = nn.oneHot(pick(target.ref, 0).reshape([B, L]).astype(np.int32), V);
  const ohx = nn.oneHot(pick(target, 1).reshape([B, L]).astype(np.int32), V);
  const mt = pick(weight.ref, 0);
  const coef = pick(weight, 1);
  const c = mt.ref.div(V);
  const alpha = mt.mul(-1).add(1);
  const stay = c.ref.div(alpha.ref.add(c.ref)); // c / (alpha + c)
  const jump = alpha.div(c).add(1); // (alpha + c) / c
  const pi = nn.softmax(out, -1);
  const px = pi.ref.mul(ohx.ref).sum(-1, { keepdims: true });
  const s = np.maximum(px.ref.mul(stay.ref).add(pi.ref.mul(jump.ref)).add(np.maximum(px.mul(-1).sub(pi).add(1), 0)), 1e-30);
  // r: x kept (x = x0_i): c / (alpha + c) for every w; else (alpha + c) / c at w = x0_i, 1 elsewhere.
  const same = ohx.ref.mul(ohy.ref).sum(-1, { keepdims: true });
  const rChanged = ohy.mul(jump.sub(1)).add(1);
  const r = same.ref.mul(stay).add(same.mul(-1).add(1).mul(rChanged));
  // log s - log r, not log(s / r): s / r overflows float32 when r = c / (alpha + c) is tiny.
  const f = s.ref.sub(r.ref).sub(r.ref.mul(np.log(s).sub(np.log(r))));
  const offX = ohx.mul(-1).add(1);
  return [f.mul(offX).sum(-1, { keepdims: true }).mul(coef).sum(), np.full([], B)];
}
