import { jit, nn, numpy as np, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../core/rng.js";
import type { Params } from "../train/types.js";

/**
 * Building blocks shared by the networks (MLP, UNet, Transformer). Weights
 * live in a flat `Params` map with dotted names ("block0.w"), which is
 * exactly what a safetensors file stores.
 *
 * Ownership (jax-js): `apply` functions consume the params they are given.
 * Use `ParamTaker` to hand each weight out once and dispose what is left.
 */

/**
 * Add a dense layer `name.w` [fanIn, fanOut], `name.b` [fanOut] to `params`.
 * Fan-in (LeCun normal) init: w ~ N(0, scale^2 / fanIn), b = 0, so unit-variance
 * inputs give unit-variance outputs. `scale = 0` zero-inits the layer (a common
 * choice for the last layer of a denoiser: the net starts at output 0).
 */
export function initDense(params: Params, name: string, rng: Rng, fanIn: number, fanOut: number, scale = 1): void {
  if (!(Number.isInteger(fanIn) && fanIn > 0 && Number.isInteger(fanOut) && fanOut > 0)) {
    throw new Error(`initDense(${name}): fanIn and fanOut must be positive integers, got ${fanIn}, ${fanOut}`);
  }
  const std = scale / Math.sqrt(fanIn);
  const w = new Float32Array(fanIn * fanOut);
  if (std !== 0) for (let i = 0; i < w.length; i++) w[i] = std * rng.normal();
  params[`${name}.w`] = np.array(w).reshape([fanIn, fanOut]);
  params[`${name}.b`] = np.zeros([fanOut]);
}

/** Hands out each weight once (jax-js consumes arrays) and disposes the rest. */
export class ParamTaker {
  private readonly left: Map<string, JArray>;

  constructor(params: Params) {
    this.left = new Map(Object.entries(params));
  }

  take(name: string): JArray {
    const p = this.left.get(name);
    if (!p) throw new Error(`params: no weight named "${name}" (or it was used twice; pass .ref to reuse)`);
    this.left.delete(name);
    return p;
  }

  /** Dispose the weights that were not used. */
  finish(): void {
    for (const p of this.left.values()) p.dispose();
    this.left.clear();
  }
}

/** x @ w + b over the last axis of x (any leading axes). Consumes x and the two weights. */
export function dense(p: ParamTaker, name: string, x: JArray): JArray {
  const w = p.take(`${name}.w`);
  const b = p.take(`${name}.b`);
  const [fanIn, fanOut] = w.shape;
  const lead = x.shape.slice(0, -1);
  if (x.shape[x.shape.length - 1] !== fanIn) {
    throw new Error(`dense(${name}): input has ${x.shape[x.shape.length - 1]} features, the layer expects ${fanIn}`);
  }
  const flat = lead.length === 1 ? x : x.reshape([-1, fanIn]);
  const y = np.matmul(flat, w).add(b);
  return lead.length === 1 ? y : y.reshape([...lead, fanOut]);
}

/**
 * SiLU, x * sigmoid(x), with sigmoid = (1 + tanh(x / 2)) / 2. jax-js's
 * nn.silu uses 1 / (1 + exp(-x)), whose gradient is 0 * Inf = NaN once
 * x < -88 (float32 exp overflows): one outlier pre-activation then turns every
 * weight into NaN (seen at step 3399 of an 8-gaussians run). tanh is computed
 * from exp(-2|x|) and stays finite everywhere. A jit named "silu", so the
 * ONNX lowering can run it and its gradient as a few fused ops (engine/onnx/fuse.ts).
 */
export const silu: (x: JArray) => JArray = jit(function silu(x: JArray): JArray {
  return x.ref.mul(np.tanh(x.mul(0.5)).add(1).mul(0.5));
});

/**
 * Softmax over the last axis (nn.softmax's formula), as a jit named
 * "softmax" so the ONNX lowering runs it as Softmax and its gradient as
 * y (ct - sum(ct y)) (engine/onnx/fuse.ts).
 */
export const softmax: (x: JArray) => JArray = jit(function softmax(x: JArray): JArray {
  return nn.softmax(x, -1);
});

/**
 * LayerNorm over the last axis with scale g and shift b [D], a jit named
 * "layerNorm" (fused by the ONNX lowering like group norm).
 */
export const layerNormLast: (x: JArray, g: JArray, b: JArray) => JArray = jit(function layerNorm(x: JArray, g: JArray, b: JArray): JArray {
  const mu = x.ref.mean(-1, { keepdims: true });
  const c = x.sub(mu);
  const v = np.square(c.ref).mean(-1, { keepdims: true });
  return c.div(np.sqrt(v.add(1e-5))).mul(g).add(b);
});

/** Count the scalar weights of a params map. */
export function paramCount(params: Params): number {
  return Object.values(params).reduce((n, p) => n + p.size, 0);
}
