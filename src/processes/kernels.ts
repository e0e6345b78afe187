import type { Rng } from "../core/rng.js";
import { tensor, type Tensor } from "../core/tensor.js";

export { gaussianKernel } from "./gaussian.js";

/**
 * The kernel for independent uniform noise (masking, replacement, deletion):
 * each coordinate is redrawn from U[0, 1) with probability r, which leaves
 * the product of uniforms invariant. r = 0 keeps eps, r = 1 is a fresh draw.
 */
export function uniformKernel(u: Tensor, r: number, rng: Rng): Tensor {
  if (r === 0) return u;
  const out = Float32Array.from(u.data);
  for (let i = 0; i < out.length; i++) if (rng.uniform() < r) out[i] = rng.uniform();
  return tensor(u.shape, out);
}

/** Fresh U[0, 1) noise of a shape. */
export function uniformNoise(shape: readonly number[], rng: Rng): Tensor {
  return tensor(shape, rng.uniforms(shape.reduce((a, b) => a * b, 1)));
}
