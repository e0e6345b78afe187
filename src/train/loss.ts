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
  const [total, wsum] = weightedSums(kind, out, target, weight);
  return total.div(np.maximum(wsum, 1e-12));
}

/** weightedLoss's two sums, [sum(w * l), sum(w)]: see lossSums. */
export function weightedSums(kind: LossKind, out: JArray, target: JArray, weight: JArray): [JArray, JArray] {
  const per = positionLoss(kind, out, target);
  checkWeight(kind, per, weight);
  return [per.mul(weight.ref).sum(), weight.sum()];
}

/**
 * sum(w * l) / (number of target entries): the weights are absolute, not
 * normalised by their sum. With w(t) an ELBO weight this is an unbiased
 * estimate of the negative ELBO per entry (per character, for text).
 */
export function weightedSumLoss(kind: LossKind, out: JArray, target: JArray, weight: JArray): JArray {
  const [total, entries] = weightedSumSums(kind, out, target, weight);
  return total.div(entries);
}

/** weightedSumLoss's two sums, [sum(w * l), number of target entries]: see lossSums. */
export function weightedSumSums(kind: LossKind, out: JArray, target: JArray, weight: JArray): [JArray, JArray] {
  const per = positionLoss(kind, out, target);
  checkWeight(kind, per, weight);
  const entries = np.full([], target.size);
  return [per.mul(weight).sum(), entries];
}

/** The loss an objective asks for: a built-in kind (weighted mean) or its own function. */
export function objectiveLoss(loss: LossKind | LossFn, out: JArray, target: JArray, weight: JArray): JArray {
  return typeof loss === "function" ? loss(out, target, weight) : weightedLoss(loss, out, target, weight);
}

/**
 * A loss as two sums over the batch's rows, [S, D] with loss = S / max(D,
 * 1e-12): a batch cut into micro-batches adds up each part's S and D (and
 * the gradients of S) and divides once, which is the whole batch's loss and
 * gradient. Built-in kinds split (weighted mean: S = sum(w l), D = sum(w));
 * a custom loss splits when it carries `sums`; otherwise undefined.
 */
export function lossSums(loss: LossKind | LossFn, out: JArray, target: JArray, weight: JArray): [JArray, JArray] | undefined {
  if (typeof loss !== "function") return weightedSums(loss, out, target, weight);
  return loss.sums?.(out, target, weight);
}

/** Whether lossSums can split this loss (without tracing it). */
export const splittable = (loss: LossKind | LossFn): boolean => typeof loss !== "function" || typeof loss.sums === "function";

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
