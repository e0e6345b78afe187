import { tree, type Array as JArray } from "@jax-js/jax";
import { tensor, type Tensor } from "../core/tensor.js";
import type { Params } from "../train/types.js";
import { hostSpec, isTensor, leavesOf, type Engine, type Program, type Tree } from "./engine.js";
import { getEngine, type EngineChoice } from "./index.js";
import { batchRows, chunking, gib, planRows, withRows, type RowPlan } from "./plan.js";

/**
 * A network forward on host batches, run on an engine: `fn(params, inputs)`
 * is a pure jax-js function whose inputs are a tree of arrays that all carry
 * the batch on axis 0 (x_t, t, class ids...). The weights are constants of
 * the compiled program; a batch is cut into chunks of equal size (the last
 * one padded with zero rows) that fit the engine's memory, so any batch size
 * runs and the program is compiled once per batch size at most.
 */
export interface BatchedForward {
  (inputs: Tree<Tensor>): Promise<Tensor>;
  /** Rows per call for a batch of n rows shaped like `inputs`. */
  plan(inputs: Tree<Tensor>): Promise<RowPlan>;
  dispose(): void;
}

export interface BatchedForwardOptions {
  /** Engine (default: the process default, see getEngine). */
  engine?: EngineChoice | Engine;
  /** At most this many rows per call (default: as many as fit). */
  maxRows?: number;
  /** Names the forward in errors ("networkForward"). */
  label?: string;
}

export type ForwardFn = (params: Params, inputs: any) => JArray;

/** The params are kept (the forward holds its own reference); dispose() frees the compiled program. */
export function batchedForward(fn: ForwardFn, params: Params, opts: BatchedForwardOptions = {}): BatchedForward {
  const label = opts.label ?? "forward";
  const maxRows = opts.maxRows ?? Infinity;
  if (!(maxRows === Infinity || (Number.isInteger(maxRows) && maxRows > 0))) throw new Error(`${label}: chunk must be a positive integer, got ${maxRows}`);
  const held = tree.ref(params);
  const traced = (x: unknown) => [fn(tree.ref(held), x)];
  let ready: Promise<{ engine: Engine; program: Program }> | undefined;
  const plans = new Map<string, Promise<RowPlan>>();
  const setup = () =>
    // One program per chunk size (chunks are equal, so one per batch size): ONNX Runtime runs a
    // fixed-shape UNet forward in 2/3 of the CPU time of the free-batch one.
    (ready ??= getEngine(opts.engine).then((engine) => ({ engine, program: engine.compile(traced) })));

  const plan = (inputs: Tree<Tensor>): Promise<RowPlan> => {
    const spec = hostSpec(inputs);
    const n = (leavesOf(inputs, isTensor)[0]?.shape[0]) ?? 0;
    const key = JSON.stringify(withRows(spec, 0)) + `/${n}`;
    let p = plans.get(key);
    if (!p) {
      p = setup().then(({ engine }) => {
        const r = planRows(engine, traced, (rows) => [withRows(spec, rows)], Math.min(n, maxRows));
        if (r.rows < 1) throw new Error(`${label}: one row needs ${gib(r.fixed + r.perRow)} on the ${engine.name} engine, more than its ${gib(r.budget)}; use a smaller network`);
        return r;
      });
      plans.set(key, p);
    }
    return p;
  };

  const run = async (inputs: Tree<Tensor>): Promise<Tensor> => {
    const leaves = leavesOf(inputs, isTensor);
    if (leaves.length === 0) throw new Error(`${label}: no input arrays`);
    const n = leaves[0].shape[0];
    for (const l of leaves) if (l.shape[0] !== n) throw new Error(`${label}: every input needs the batch (${n} rows) on axis 0, got shape [${l.shape.join(", ")}]`);
    const { program } = await setup();
    const { size, count } = chunking(n, (await plan(inputs)).rows);
    let out: Float32Array | undefined;
    let shape: number[] = [];
    for (let c = 0; c < count; c++) {
      const start = c * size;
      const [res] = await program.run(count === 1 ? inputs : batchRows(inputs, start, size));
      const y = (await res.read()) as Tensor;
      res.dispose();
      const per = y.data.length / size;
      if (!out) {
        shape = [n, ...y.shape.slice(1)];
        out = count === 1 ? y.data : new Float32Array(n * per);
      }
      if (count > 1) out.set(y.data.subarray(0, Math.min(size, n - start) * per), start * per);
    }
    return tensor(shape, out);
  };

  return Object.assign(run, {
    plan,
    dispose: () => {
      const r = ready;
      ready = undefined;
      void (r ?? Promise.resolve(undefined)).then((x) => x?.program.dispose()).finally(() => tree.dispose(held));
    },
  });
}
