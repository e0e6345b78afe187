import { tensor, type Tensor } from "../core/tensor.js";

/**
 * Quantised pixel levels (DESIGN.md "Categorical pixels"): K levels spread
 * evenly over the data range [-1, 1], level k at -1 + 2k / (K - 1). MNIST's
 * 8-bit pixels are exactly the K = 256 levels; K = 16 keeps digits intact at
 * a sixteenth of the output size.
 */
export function checkLevels(K: number, who: string): number {
  if (!(Number.isInteger(K) && K >= 2 && K <= 256)) throw new Error(`${who}: levels must be an integer in [2, 256], got ${K}`);
  return K;
}

/** The value of level k. */
export const levelValue = (k: number, K: number): number => -1 + (2 * k) / (K - 1);

/** The nearest level of a value (values outside [-1, 1] go to the end levels). */
export function levelOf(v: number, K: number): number {
  const k = Math.round(((v + 1) / 2) * (K - 1));
  return k < 0 ? 0 : k > K - 1 ? K - 1 : k;
}

/** Level ids of every value of x (same shape, ids stored as float values: a "ce" target). */
export function levelIds(x: Tensor, K: number): Tensor {
  return tensor(x.shape, x.data.map((v) => levelOf(v, K)));
}

/** x with every value snapped to its nearest level. */
export function quantise(x: Tensor, K: number): Tensor {
  return tensor(x.shape, x.data.map((v) => levelValue(levelOf(v, K), K)));
}
