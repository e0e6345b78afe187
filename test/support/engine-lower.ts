import { jit, numpy as np, tree, valueAndGrad, type Array as JArray } from "@jax-js/jax";
import { compileOnnx, toOrt, type CompileOptions } from "../../src/engine/onnx/index.js";
import { Rng } from "../../src/core/rng.js";
import { withConvForm } from "../../src/model/conv.js";
import { adamInit, adamUpdate, defaultAdam, emaUpdate } from "../../src/train/adam.js";
import { weightedLoss } from "../../src/train/loss.js";
import type { LossKind, Network, Params } from "../../src/train/types.js";

/**
 * Shared by the lowering tests: run one jax-js function under jax-js jit and
 * as a lowered ONNX program on the same inputs, and compare.
 */

/** A float32 array of standard normals. */
export function randn(shape: number[], rng: Rng, scale = 1): JArray {
  const n = shape.reduce((a, b) => a * b, 1);
  return np.array(Float32Array.from({ length: n }, () => scale * rng.normal()), { shape });
}

/** The train step as train.ts builds it: forward + grad + Adam + EMA (class ids `cond` optional, last). */
export function trainStep(network: Network, loss: LossKind) {
  const lossOf = (q: Params, xt: JArray, t: JArray, y: JArray, w: JArray, cond?: JArray) => weightedLoss(loss, network.apply(q, xt, t, cond), y, w);
  return (p: Params, m: Params, v: Params, ema: Params, xt: JArray, t: JArray, y: JArray, w: JArray, lr: JArray, c1: JArray, c2: JArray, decay: JArray, cond?: JArray) => {
    const [l, grads] = cond ? valueAndGrad(lossOf)(tree.ref(p), xt, t, y, w, cond) : valueAndGrad(lossOf)(tree.ref(p), xt, t, y, w);
    const up = adamUpdate(defaultAdam, p, grads as Params, m, v, lr, c1, c2);
    const ema2 = emaUpdate(ema, tree.ref(up.params), decay);
    return [up.params, up.m, up.v, ema2, l] as [Params, Params, Params, Params, JArray];
  };
}

/** Arguments of one train step with weights from `network.init`, nonzero moments. */
export function stepArgs(network: Network, x: JArray, t: JArray, y: JArray, seed = 0): unknown[] {
  const rng = new Rng(seed + 100);
  const p = network.init(seed);
  // Perturb every weight so zero-initialised layers carry signal too.
  const params = tree.map((w: JArray) => w.add(randn(w.shape, rng, 0.1)), p) as Params;
  const { m, v } = adamInit(params);
  const m2 = tree.map((a: JArray) => a.add(randn(a.shape, rng, 0.01)), m) as Params;
  const v2 = tree.map((a: JArray) => a.add(np.abs(randn(a.shape, rng, 0.01))), v) as Params;
  const ema = tree.map((a: JArray) => a.ref.mul(0.9), params) as Params;
  const w = np.onesLike(y.ref);
  return [params, m2, v2, ema, x, t, y, w, np.array(1e-2), np.array(1 / (1 - 0.9 ** 3)), np.array(1 / (1 - 0.999 ** 3)), np.array(0.99)];
}

export interface Comparison {
  /** The worst output's max |onnx - jax| / max |jax| (its error relative to its scale). */
  worst: number;
  /** Which flattened output, and its value there. */
  where: string;
  outputs: number;
}

/**
 * Run `fn` on `args` with jax-js jit and with ONNX Runtime, models' 3x3
 * convs in the same form on both (opts.convForm, default "conv"); compare
 * every output.
 */
export async function compareEngines(fn: (...a: any[]) => any, args: unknown[], opts: CompileOptions = {}): Promise<Comparison> {
  const form = opts.convForm ?? "conv";
  const { program } = await compileOnnx(fn, args, { ...opts, convForm: form });
  const leaves = tree.leaves(tree.ref(args as never)) as JArray[];
  const got = await program.run(await Promise.all(leaves.map(toOrt)));
  await program.release();
  const jf = jit((...a: unknown[]) => withConvForm(form, () => fn(...a)));
  const want = tree.leaves(jf(...(args as never[])) as never) as JArray[];
  jf.dispose();
  if (want.length !== got.length) throw new Error(`compareEngines: ${want.length} jax outputs, ${got.length} onnx outputs`);
  let worst = 0;
  let where = "";
  for (let i = 0; i < want.length; i++) {
    const shape = want[i].shape;
    const w = await want[i].data();
    const g = got[i].data as ArrayLike<number>;
    if (got[i].dims.join(",") !== shape.join(",")) throw new Error(`output ${i}: onnx shape [${got[i].dims}] vs jax [${shape}]`);
    let scale = 0;
    for (let k = 0; k < w.length; k++) scale = Math.max(scale, Math.abs(Number(w[k])));
    for (let k = 0; k < w.length; k++) {
      const a = Number(w[k]);
      const b = Number(g[k]);
      const err = Object.is(a, b) ? 0 : Math.abs(a - b) / (scale || 1);
      if (!(err <= worst)) {
        worst = Number.isNaN(err) ? Infinity : err;
        where = `output ${i} [${shape}] at ${k}: onnx ${b}, jax ${a} (scale ${scale})`;
      }
    }
  }
  return { worst, where, outputs: want.length };
}
