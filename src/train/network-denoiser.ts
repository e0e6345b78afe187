import type { Array as JArray } from "@jax-js/jax";
import { pointMass, type Denoiser } from "../core/denoiser.js";
import { tensor, type Tensor } from "../core/tensor.js";
import type { Engine } from "../engine/engine.js";
import { batchedForward } from "../engine/forward.js";
import type { EngineChoice } from "../engine/index.js";
import type { RowPlan } from "../engine/plan.js";
import type { GaussianProcess } from "../processes/gaussian.js";
import { gaussianObjective, type Parameterization } from "./objectives.js";
import type { Network, Params } from "./types.js";

/**
 * A trained network as a host-side function x_t -> output, run on an engine
 * (src/engine/): the weights go to the engine once, and a batch is cut into
 * chunks that fit its memory (at most `chunk` rows each when given). The
 * params are NOT consumed. Call `dispose()` to free the engine's side (the
 * params stay the caller's).
 */
export interface NetworkForward {
  (xt: Tensor, t: number): Promise<Tensor>;
  /** Rows per forward pass for a batch like xt (from the engine's memory estimate). */
  plan(xt: Tensor): Promise<RowPlan>;
  dispose(): void;
}

export interface NetworkForwardOptions {
  /** At most this many rows per forward pass (default: as many as fit the engine's memory). */
  chunk?: number;
  /** Engine (default: the process default, see src/engine/index.ts). */
  engine?: EngineChoice | Engine;
  /** Class labels and guidance, for a class-conditional network. */
  cond?: ClassCondition;
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

export function networkForward(network: Network, params: Params, opts: NetworkForwardOptions = {}): NetworkForward {
  const cond = opts.cond && checkCondition(opts.cond);
  const fwd = batchedForward((p: Params, b: { x: JArray; t: JArray; c?: JArray }) => (b.c === undefined ? network.apply(p, b.x, b.t) : network.apply(p, b.x, b.t, b.c)), params, {
    engine: opts.engine,
    maxRows: opts.chunk,
    label: "networkForward",
  });
  const inputs = (xt: Tensor, t: number, labels?: Float32Array) => {
    const n = xt.shape[0];
    return { x: xt, t: tensor([n], new Float32Array(n).fill(t)), ...(labels ? { c: tensor([n], labels) } : {}) };
  };
  const labelsFor = (n: number): Float32Array | undefined => {
    if (!cond) return undefined;
    const labels = typeof cond.label === "number" ? new Float32Array(n).fill(cond.label) : cond.label.slice(0, n);
    if (labels.length !== n) throw new Error(`networkForward: ${labels.length} class labels for a batch of ${n} rows`);
    return labels;
  };
  const run = async (xt: Tensor, t: number): Promise<Tensor> => {
    const n = xt.shape[0];
    const out = await fwd(inputs(xt, t, labelsFor(n)));
    const w = cond?.guidance ?? 0;
    if (!cond || w === 0) return out;
    const free = await fwd(inputs(xt, t, new Float32Array(n).fill(cond.classes)));
    return tensor(out.shape, out.data.map((v, i) => (1 + w) * v - w * free.data[i]));
  };
  return Object.assign(run, { plan: (xt: Tensor) => fwd.plan(inputs(xt, 0, labelsFor(xt.shape[0]))), dispose: () => fwd.dispose() });
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

export interface NetworkDenoiserOptions extends NetworkForwardOptions {
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
