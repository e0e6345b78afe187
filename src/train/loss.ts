import { nn, numpy as np, type Array as JArray } from "@jax-js/jax";
import type { LossKind } from "./types.js";

/**
 * The weighted -log q_theta(x0 | x_t) of DESIGN.md section 1, in jax-js:
 *   mse: Gaussian q,   l(out, y) = (out - y)^2
 *   l1:  Laplace q,    l(out, y) = |out - y|
 *   ce:  categorical q over V tokens, out = logits [B, ..., V], y = ids [B, ...]
 *        stored as float values, l = -log softmax(out)[y]
 * and the loss is sum(w * l) / sum(w): a weighted mean. With w = 1 it is the
 * plain mean; with a 0/1 mask it is the mean over the positions that count
 * (the destroyed tokens); the overall scale of w does not matter, only its
 * relative size across positions and times. A batch with sum(w) = 0 gives 0.
 * Consumes out, target and weight; returns a scalar.
 */
export function weightedLoss(kind: LossKind, out: JArray, target: JArray, weight: JArray): JArray {
  let per: JArray;
  if (kind === "mse" || kind === "l1") {
    if (!sameShape(out.shape, target.shape)) {
      throw new Error(`loss(${kind}): network output [${out.shape}] and target [${target.shape}] differ in shape`);
    }
    const d = out.sub(target);
    per = kind === "mse" ? np.square(d) : np.abs(d);
  } else if (kind === "ce") {
    const V = out.shape[out.shape.length - 1];
    if (!sameShape(out.shape.slice(0, -1), target.shape)) {
      throw new Error(`loss(ce): logits [${out.shape}] must be the target ids' shape [${target.shape}] plus a vocabulary axis`);
    }
    const logp = nn.logSoftmax(out, -1);
    const onehot = nn.oneHot(target.astype(np.int32), V);
    per = onehot.mul(logp).sum(-1).neg();
  } else {
    throw new Error(`loss: unknown kind "${kind as string}" (expected mse, l1 or ce)`);
  }
  if (!sameShape(per.shape, weight.shape)) {
    throw new Error(`loss(${kind}): weight [${weight.shape}] must have the shape [${per.shape}]`);
  }
  const total = per.mul(weight.ref).sum();
  return total.div(np.maximum(weight.sum(), 1e-12));
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
