import { jit, tree, numpy as np, type Array as JArray } from "@jax-js/jax";
import { pointMass, type Denoiser } from "../core/denoiser.js";
import { concatBatch, sliceBatch, tensor, type Tensor } from "../core/tensor.js";
import type { GaussianProcess } from "../processes/gaussian.js";
import { gaussianObjective, type Parameterization } from "./objectives.js";
import type { Network, Params } from "./types.js";

/**
 * A trained network as a host-side function x_t -> output: one jitted
 * forward, run on chunks of at most `chunk` rows (memory stays bounded for
 * large sampling batches). The params are NOT consumed: every call passes
 * tree.ref(params). Call `dispose()` to free the compiled function (the
 * params stay the caller's).
 */
export interface NetworkForward {
  (xt: Tensor, t: number): Promise<Tensor>;
  dispose(): void;
}

export function networkForward(network: Network, params: Params, opts: { chunk?: number } = {}): NetworkForward {
  const chunk = opts.chunk ?? 1024;
  if (!(Number.isInteger(chunk) && chunk > 0)) throw new Error(`networkForward: chunk must be a positive integer, got ${chunk}`);
  const fwd = jit((p: Params, x: JArray, t: JArray) => network.apply(p, x, t));
  const run = async (xt: Tensor, t: number): Promise<Tensor> => {
    const n = xt.shape[0];
    const parts: Tensor[] = [];
    for (let s = 0; s < n; s += chunk) {
      const part = s === 0 && n <= chunk ? xt : sliceBatch(xt, s, Math.min(n, s + chunk));
      const rows = part.shape[0];
      const out = fwd(tree.ref(params), np.array(part.data).reshape([...part.shape]), np.full([rows], t));
      const shape = out.shape;
      const data = await out.data();
      parts.push(tensor(shape, data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>)));
    }
    return parts.length === 1 ? parts[0] : concatBatch(parts);
  };
  return Object.assign(run, { dispose: () => fwd.dispose() });
}

export interface NetworkDenoiserOptions {
  /** Rows per forward pass (default 1024). */
  chunk?: number;
  /** Clip x0_hat to [-clip, clip] (e.g. 1 for data scaled to [-1, 1]); off by default. */
  clip?: number;
}

/**
 * A point-mass Denoiser for real data from any network: x0_hat =
 * toX0(network output, x_t, t). `mean` and `sample` both return x0_hat.
 */
export function networkDenoiser(
  network: Network,
  params: Params,
  toX0: (out: Tensor, xt: Tensor, t: number) => Tensor,
  opts: NetworkDenoiserOptions = {},
): Denoiser & { dispose(): void } {
  const fwd = networkForward(network, params, opts);
  const clip = opts.clip;
  if (clip !== undefined && !(clip > 0)) throw new Error(`networkDenoiser: clip must be positive, got ${clip}`);
  const d = pointMass(async (xt, t) => {
    const x0 = toX0(await fwd(xt, t), xt, t);
    if (clip === undefined) return x0;
    return tensor(x0.shape, x0.data.map((v) => (Number.isNaN(v) ? v : Math.min(clip, Math.max(-clip, v)))));
  });
  return Object.assign(d, { dispose: () => fwd.dispose() });
}

/**
 * The Gaussian process's denoiser: the network predicts x0, eps or v
 * (see objectives.ts) and is converted to x0_hat given x_t and t.
 */
export function gaussianDenoiser(
  network: Network,
  params: Params,
  process: GaussianProcess,
  parameterization: Parameterization,
  opts: NetworkDenoiserOptions = {},
): Denoiser & { dispose(): void } {
  const obj = gaussianObjective(process, parameterization);
  return networkDenoiser(network, params, (out, xt, t) => obj.toX0(out, xt, t), opts);
}
