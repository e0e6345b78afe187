import type { Array as JArray } from "@jax-js/jax";
import type { Tensor } from "../core/tensor.js";

/**
 * Shared contracts between processes, networks and training. Everything on
 * the host is a Tensor; only a Network sees jax-js arrays.
 */

/** Network weights: a flat name -> array map (what a safetensors file holds). */
export type Params = Record<string, JArray>;

/**
 * A time-conditioned network. `apply` follows jax-js ownership: it consumes
 * every argument (callers pass `tree.ref(params)` to keep the weights).
 * x: [B, ...item] float32 (token ids as float32 values), t: [B] float32.
 * cond (optional): [B] float32 class ids for a class-conditional network,
 * with id `config.classes` the null class (DESIGN.md "Guidance"); networks
 * without classes never receive it.
 */
export interface Network {
  readonly name: string;
  /** JSON-serialisable hyper-parameters, saved in the checkpoint so it can be rebuilt. */
  readonly config: Record<string, unknown>;
  init(seed: number): Params;
  apply(params: Params, x: JArray, t: JArray, cond?: JArray): JArray;
}

export type LossKind = "mse" | "l1" | "ce";

/**
 * A loss written in jax-js: (network output, target, weight) -> scalar,
 * consuming its arguments; it must be traceable (no host reads).
 */
export type LossFn = ((out: JArray, target: JArray, weight: JArray) => JArray) & {
  /**
   * Optional: the loss as two sums over rows, [S, D] with loss = S / D (see
   * loss.ts lossSums). Without it a batch too big for the engine's memory
   * cannot be split into micro-batches.
   */
  sums?: (out: JArray, target: JArray, weight: JArray) => [JArray, JArray];
};

/**
 * How a process's batch becomes a regression / classification problem:
 * the weighted -log q(x0 | x_t) of DESIGN.md section 1.
 * - mse / l1: the network output has the target's shape.
 * - ce: target holds token ids [B, ...], the output logits [B, ..., V].
 * `weight` (same shape as target for mse/l1, as the ids for ce) carries w(t)
 * and, for ce, which positions count (usually the destroyed ones).
 */
export interface Objective<X = Tensor, E = Tensor> {
  /** A built-in kind (the weighted mean of loss.ts) or a custom jax-js loss. */
  readonly loss: LossKind | LossFn;
  target(x0: X, xt: X, t: Float32Array, eps: E): { target: Tensor; weight?: Tensor };
  /**
   * What the network sees in training (default: x_t). A learned encoder
   * (the encoding process) takes the ingredients of x_t instead and forms
   * x_t inside the network, so the loss's gradient reaches the encoder.
   * Teacher-forced autoregression shows the network x0 itself.
   */
  input?(x0: X, xt: X, t: Float32Array, eps: E): Tensor;
}
