import { nn, numpy as np, type Array as JArray } from "@jax-js/jax";
import type { LossFn, LossKind } from "./types.js";

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
  const per = positionLoss(kind, out, target);
  checkWeight(kind, per, weight);
  const total = per.mul(weight.ref).sum();
  return total.div(np.maximum(weight.sum(), 1e-12));
}

/**
 * sum(w * l) / (number of target entries): the weights are absolute, not
 * normalised by their sum. With w(t) an ELBO weight this is an unbiased
 * estimate of the negative ELBO per entry (per character, for text).
 */
export function weightedSumLoss(kind: LossKind, out: JArray, target: JArray, weight: JArray): JArray {
  const per = positionLoss(kind, out, target);
  checkWeight(kind, per, weight);
  return per.mul(weight).sum().div(target.size);
}

/** The loss an objective asks for: a built-in kind (weighted mean) or its own function. */
export function objectiveLoss(loss: LossKind | LossFn, out: JArray, target: JArray, weight: JArray): JArray {
  return typeof loss === "function" ? loss(out, target, weight) : weightedLoss(loss, out, target, weight);
}

/** -log q per position: [B, ...] for ce (logits [B, ..., V]), the target's shape for mse / l1. Consumes out and target. */
export function positionLoss(kind: LossKind, out: JArray, target: JArray): JArray {
  if (kind === "mse" || kind === "l1") {
    if (!sameShape(out.shape, target.shape)) {
      throw new Error(`loss(${kind}): network output [${out.shape}] and target [${target.shape}] differ in shape`);
    }
    const d = out.sub(target);
    return kind === "mse" ? np.square(d) : np.abs(d);
  }
  if (kind === "ce") {
    const V = out.shape[out.shape.length - 1];
    if (!sameShape(out.shape.slice(0, -1), target.shape)) {
      throw new Error(`loss(ce): logits [${out.shape}] must be the target ids' shape [${target.shape}] plus a vocabulary axis`);
    }
    const logp = nn.logSoftmax(out, -1);
    const onehot = nn.oneHot(target.astype(np.int32), V);
    return onehot.mul(logp).sum(-1).neg();
  }
  throw new Error(`loss: unknown kind "${kind as string}" (expected mse, l1 or ce)`);
}

function checkWeight(kind: LossKind, per: JArray, weight: JArray): void {
  if (!sameShape(per.shape, weight.shape)) {
    throw new Error(`loss(${kind}): weight [${weight.shape}] must have the shape [${per.shape}]`);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
