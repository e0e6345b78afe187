import { numpy as np, valueAndGrad, type Array as JArray } from "@jax-js/jax";
import { tensor, type Tensor } from "../core/tensor.js";
import { ArraySpec, hostSpec, type Engine, type Program, type Resident, type Tree } from "../engine/engine.js";
import { batchRows, gib, planRows, withRows } from "../engine/plan.js";
import { adamUpdate, emaUpdate, type AdamConfig } from "./adam.js";
import { lossSums, objectiveLoss, splittable } from "./loss.js";
import type { LossFn, LossKind, Network, Params } from "./types.js";

/**
 * The optimizer step of train(), on an engine. Weights, Adam moments and the
 * EMA stay on the engine between steps; each step sends the host batch and
 * four scalars and reads back the loss.
 *
 * When the whole batch fits the engine's memory the step is ONE program
 * (forward + grad + Adam + EMA). Otherwise the batch is cut into
 * micro-batches of equal size (the last one shorter): the loss is a ratio
 * S / D of two sums over the WHOLE batch (weighted mean: sum(w l) / sum(w),
 * see loss.ts lossSums), so each micro-batch adds its S, D and gradient of S
 * to an accumulator and a last program divides once and applies Adam + EMA:
 * the unsplit step, up to float rounding.
 */

/** A training batch on the host: what the network sees and what the loss compares. */
export interface Batch {
  /** Network input x_t [B, ...item]. */
  x: Tensor;
  /** Times [B]. */
  t: Tensor;
  target: Tensor;
  weight: Tensor;
  /** Class ids [B], for class-conditional networks. */
  cond?: Tensor;
}

/** The step-dependent scalars: learning rate, Adam's bias corrections 1/(1-b^k), EMA decay. */
export interface StepScalars {
  lr: number;
  c1: number;
  c2: number;
  decay: number;
}

/** Weights, their EMA and Adam's moments, as host copies (what a checkpoint holds). */
export type StepState = Record<"params" | "ema" | "adamM" | "adamV", Record<string, Tensor>>;

/** How a step runs: micro-batches of `size` rows, `count` of them (1: the whole batch at once). */
export interface StepPlan {
  size: number;
  count: number;
  /** The engine's estimate of the unsplit step: bytes per row and at zero rows. */
  bytesPerRow: number;
  fixedBytes: number;
}

export interface TrainStepper {
  readonly plan: StepPlan;
  /** One optimizer step; returns the batch's loss. */
  step(batch: Batch, s: StepScalars): Promise<number>;
  /** Host copies of the weights, EMA and Adam moments. */
  read(): Promise<StepState>;
  dispose(): void;
}

export interface StepSpec {
  engine: Engine;
  network: Network;
  loss: LossKind | LossFn;
  adam: AdamConfig;
  batchSize: number;
  /** A batch of the run's shapes (its values are not used). */
  example: Batch;
  /** The starting state (host copies; the engine gets its own). */
  state: StepState;
  /** At most this many rows per program call (default: as many as fit the engine's memory). */
  maxRows?: number;
}

type JBatch = { x: JArray; t: JArray; target: JArray; weight: JArray; cond?: JArray };
type JScalars = { lr: JArray; c1: JArray; c2: JArray; decay: JArray };
type Moments = { m: JArray; v: JArray };
type Acc = { g: JArray; s: JArray; w: JArray };

const scalarsOf = (s: StepScalars): Record<keyof StepScalars, Tensor> => ({
  lr: tensor([], [s.lr]),
  c1: tensor([], [s.c1]),
  c2: tensor([], [s.c2]),
  decay: tensor([], [s.decay]),
});

/**
 * On the engine the weights (and Adam's moments, the EMA, the gradient) are
 * ONE flat vector, cut into the named weights only where the network reads
 * them: Adam and the EMA are then a dozen operations on one array instead of
 * a dozen per weight (hundreds of small kernels for a UNet).
 */
interface Layout {
  keys: string[];
  shapes: number[][];
  offsets: number[];
  size: number;
}

function layoutOf(params: Record<string, Tensor>): Layout {
  const keys = Object.keys(params);
  const shapes = keys.map((k) => [...params[k].shape]);
  const offsets: number[] = [];
  let size = 0;
  for (const k of keys) {
    offsets.push(size);
    size += params[k].data.length;
  }
  return { keys, shapes, offsets, size };
}

/** Host: named weights -> the flat vector, and back. */
function flatten(l: Layout, t: Record<string, Tensor>): Tensor {
  const out = new Float32Array(l.size);
  l.keys.forEach((k, i) => out.set(t[k].data, l.offsets[i]));
  return tensor([l.size], out);
}

function unflatten(l: Layout, flat: Tensor): Record<string, Tensor> {
  return Object.fromEntries(l.keys.map((k, i) => [k, tensor(l.shapes[i], flat.data.subarray(l.offsets[i], l.offsets[i] + l.shapes[i].reduce((a, b) => a * b, 1)))]));
}

/** Traced: the flat vector cut into the named weights (consumes it), and named gradients joined into one (consumes them). */
function cut(l: Layout, flat: JArray): Params {
  const out: Params = {};
  l.keys.forEach((k, i) => {
    const n = l.shapes[i].reduce((a, b) => a * b, 1);
    out[k] = flat.ref.slice([l.offsets[i], l.offsets[i] + n]).reshape(l.shapes[i]);
  });
  flat.dispose();
  return out;
}

const join = (l: Layout, g: Params): JArray => np.concatenate(l.keys.map((k) => g[k].reshape([-1])), 0);

export async function trainStepper(spec: StepSpec): Promise<TrainStepper> {
  const { engine, network, loss: kind, adam, batchSize } = spec;
  const layout = layoutOf(spec.state.params);
  const predict = (q: Params, b: JBatch): JArray => network.apply(q, b.x, b.t, ...(b.cond ? [b.cond] : []));

  // Apply Adam and the EMA to a gradient: shared by the fused and the split step.
  const update = (p: JArray, mo: Moments, ema: JArray, g: JArray, sc: JScalars) => {
    const up = adamUpdate(adam, { w: p }, { w: g }, { w: mo.m }, { w: mo.v }, sc.lr, sc.c1, sc.c2);
    const ema2 = emaUpdate({ w: ema }, { w: up.params.w.ref }, sc.decay);
    return { params: up.params.w, moments: { m: up.m.w, v: up.v.w }, ema: ema2.w };
  };

  const fused = (p: JArray, mo: Moments, ema: JArray, b: JBatch, sc: JScalars) => {
    const [loss, g] = valueAndGrad((q: Params, b: JBatch) => objectiveLoss(kind, predict(q, b), b.target, b.weight))(cut(layout, p.ref), b);
    const u = update(p, mo, ema, join(layout, g as Params), sc);
    return [u.params, u.moments, u.ema, loss];
  };
  const sums = (p: JArray, b: JBatch): Acc => {
    const [[s, w], g] = valueAndGrad((q: Params, b: JBatch) => lossSums(kind, predict(q, b), b.target, b.weight)!, { hasAux: true })(cut(layout, p), b);
    return { g: join(layout, g as Params), s, w };
  };
  const more = (p: JArray, acc: Acc, b: JBatch) => {
    const d = sums(p, b);
    return [{ g: acc.g.add(d.g), s: acc.s.add(d.s), w: acc.w.add(d.w) }];
  };
  const apply = (p: JArray, mo: Moments, ema: JArray, acc: Acc, sc: JScalars) => {
    const total = np.maximum(acc.w, 1e-12);
    const u = update(p, mo, ema, acc.g.div(total.ref), sc);
    return [u.params, u.moments, u.ema, acc.s.div(total)];
  };

  const params = await engine.upload(flatten(layout, spec.state.params));
  const moments = await engine.upload({ m: flatten(layout, spec.state.adamM), v: flatten(layout, spec.state.adamV) });
  const ema = await engine.upload(flatten(layout, spec.state.ema));
  let state = { params, moments, ema };

  const batchSpec = hostSpec(spec.example as unknown as Tree<Tensor>);
  const rowsOf = (rows: number) => withRows(batchSpec, rows);
  const scalarSpec = hostSpec(scalarsOf({ lr: 0, c1: 0, c2: 0, decay: 0 }));
  const want = Math.min(batchSize, spec.maxRows ?? Infinity);
  const whole = planRows(engine, fused, (r) => [params.spec(), moments.spec(), ema.spec(), rowsOf(r), scalarSpec], want);

  let micro = batchSize;
  if (whole.rows < batchSize) {
    const where = `on the ${engine.name} engine (budget ${gib(whole.budget)})`;
    if (!splittable(kind)) {
      throw new Error(
        `train: --batch-size ${batchSize} needs ${gib(whole.fixed + whole.perRow * batchSize)} ${where}, and this objective's custom loss cannot be split into micro-batches (it has no sums); ` +
          (whole.rows >= 1 ? `the largest --batch-size that fits is ${whole.rows}` : "no --batch-size fits; use a smaller network"),
      );
    }
    const acc = planRows(engine, more, (r) => [params.spec(), { g: new ArraySpec([layout.size]), s: new ArraySpec([]), w: new ArraySpec([]) }, rowsOf(r)], want);
    if (acc.rows < 1) {
      throw new Error(`train: one training row needs ${gib(acc.fixed + acc.perRow)} ${where}: no --batch-size fits; use a smaller network`);
    }
    micro = acc.rows;
  }
  const count = Math.ceil(batchSize / micro);
  const size = Math.ceil(batchSize / count);

  // The accumulator before the first micro-batch: zero gradients and sums (host arrays, sent once per step).
  const zeroAcc = { g: tensor([layout.size]), s: tensor([]), w: tensor([]) };

  const programs: Program[] = [];
  const compile = (fn: (...a: any[]) => any): Program => {
    const p = engine.compile(fn);
    programs.push(p);
    return p;
  };
  const fusedP = count === 1 ? compile(fused) : undefined;
  const moreP = count > 1 ? compile(more) : undefined;
  const applyP = count > 1 ? compile(apply) : undefined;

  const replace = (outs: Resident[]): Resident => {
    for (const r of [state.params, state.moments, state.ema]) r.dispose();
    state = { params: outs[0], moments: outs[1], ema: outs[2] };
    return outs[3];
  };

  async function step(batch: Batch, s: StepScalars): Promise<number> {
    const sc = scalarsOf(s);
    let lossR: Resident;
    if (fusedP) {
      lossR = replace(await fusedP.run(state.params, state.moments, state.ema, batch as unknown as Tree<Tensor>, sc));
    } else {
      let acc: Resident | undefined;
      for (let c = 0; c < count; c++) {
        const part = batchRows(batch as unknown as Tree<Tensor>, c * size, Math.min(size, batchSize - c * size));
        const [next] = await moreP!.run(state.params, acc ?? zeroAcc, part);
        acc?.dispose();
        acc = next;
      }
      lossR = replace(await applyP!.run(state.params, state.moments, state.ema, acc!, sc));
      acc!.dispose();
    }
    const loss = ((await lossR.read()) as Tensor).data[0];
    lossR.dispose();
    return loss;
  }

  async function read(): Promise<StepState> {
    const [p, mo, e] = await Promise.all([state.params.read(), state.moments.read(), state.ema.read()]);
    const { m, v } = mo as { m: Tensor; v: Tensor };
    return { params: unflatten(layout, p as Tensor), ema: unflatten(layout, e as Tensor), adamM: unflatten(layout, m), adamV: unflatten(layout, v) };
  }

  return {
    plan: { size, count, bytesPerRow: whole.perRow, fixedBytes: whole.fixed },
    step,
    read,
    dispose() {
      for (const p of programs) p.dispose();
      for (const r of [state.params, state.moments, state.ema]) r.dispose();
    },
  };
}
