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

/**
 * Class labels for a class-conditional network, and classifier-free
 * guidance (DESIGN.md "Guidance"): with weight w the output is
 *   (1 + w) f(x_t, c) - w f(x_t, null).
 * For logits this is the guided categorical; every x0_hat map of a
 * real-valued process (x0, eps or v prediction, keep-visible) is affine in
 * the output, so it mixes the x0_hat means, as guidance with a shared
 * variance should. Only x0_hat changes: the sampler's correction is untouched.
 */
export interface ClassCondition {
  /** One class id for every row, or one per row; id `classes` (the null label) is unconditional. */
  label: number | Float32Array;
  /** The network's number of classes (its null label is this id). */
  classes: number;
  /** Guidance weight w >= 0 (default 0: the plain conditional model). */
  guidance?: number;
}

export function networkForward(network: Network, params: Params, opts: { chunk?: number; cond?: ClassCondition } = {}): NetworkForward {
  const chunk = opts.chunk ?? 1024;
  if (!(Number.isInteger(chunk) && chunk > 0)) throw new Error(`networkForward: chunk must be a positive integer, got ${chunk}`);
  const cond = opts.cond && checkCondition(opts.cond);
  const fwd = jit((p: Params, x: JArray, t: JArray, c?: JArray) => (c === undefined ? network.apply(p, x, t) : network.apply(p, x, t, c)));
  const once = async (part: Tensor, t: number, labels?: Float32Array): Promise<Tensor> => {
    const rows = part.shape[0];
    const x = np.array(part.data).reshape([...part.shape]);
    const out = labels ? fwd(tree.ref(params), x, np.full([rows], t), np.array(labels)) : fwd(tree.ref(params), x, np.full([rows], t));
    const shape = out.shape;
    const data = await out.data();
    return tensor(shape, data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>));
  };
  const guided = async (part: Tensor, t: number, start: number): Promise<Tensor> => {
    if (!cond) return once(part, t);
    const rows = part.shape[0];
    const labels = typeof cond.label === "number" ? new Float32Array(rows).fill(cond.label) : cond.label.slice(start, start + rows);
    if (labels.length !== rows) throw new Error(`networkForward: ${labels.length + start} class labels for a batch of at least ${start + rows} rows`);
    const out = await once(part, t, labels);
    const w = cond.guidance ?? 0;
    if (w === 0) return out;
    const free = await once(part, t, new Float32Array(rows).fill(cond.classes));
    return tensor(out.shape, out.data.map((v, i) => (1 + w) * v - w * free.data[i]));
  };
  const run = async (xt: Tensor, t: number): Promise<Tensor> => {
    const n = xt.shape[0];
    const parts: Tensor[] = [];
    for (let s = 0; s < n; s += chunk) parts.push(await guided(s === 0 && n <= chunk ? xt : sliceBatch(xt, s, Math.min(n, s + chunk)), t, s));
    return parts.length === 1 ? parts[0] : concatBatch(parts);
  };
  return Object.assign(run, { dispose: () => fwd.dispose() });
}

function checkCondition(c: ClassCondition): ClassCondition {
  if (!(Number.isInteger(c.classes) && c.classes >= 1)) throw new Error(`class condition: classes must be a positive integer, got ${c.classes}`);
  const w = c.guidance ?? 0;
  if (!(w >= 0 && Number.isFinite(w))) throw new Error(`class condition: guidance must be a finite number >= 0, got ${w}`);
  const ids = typeof c.label === "number" ? [c.label] : c.label;
  for (const id of ids) {
    if (!(Number.isInteger(id) && id >= 0 && id <= c.classes)) throw new Error(`class condition: label ${id} is not a class id in 0..${c.classes - 1} (or ${c.classes}, the null label)`);
  }
  return c;
}

export interface NetworkDenoiserOptions {
  /** Rows per forward pass (default 1024). */
  chunk?: number;
  /** Class labels and guidance, for a class-conditional network. */
  cond?: ClassCondition;
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
