import { makeJaxpr } from "@jax-js/jax";
import { tensor, type Tensor } from "../core/tensor.js";
import { ArraySpec, isTensor, mapTree, type Engine, type TracedFn, type Tree } from "./engine.js";
import { programMemory } from "./memory.js";

/**
 * How many rows of a batch one program may take on an engine. Every array a
 * network touches is linear in the batch (attention is quadratic in the
 * positions, not the rows), so the program's footprint is fixed + perRow *
 * rows; two traces (1 and 2 rows, no compute) give both terms.
 */
export interface RowPlan {
  /** Rows per call: the wanted count when it fits, else the most that do. */
  rows: number;
  /** Bytes per extra row and bytes at zero rows, on this engine. */
  perRow: number;
  fixed: number;
  /** The engine's budget the plan was made against. */
  budget: number;
}

/** Bytes the engine needs for `fn` traced on `specs`. */
export function footprintOf(engine: Engine, fn: TracedFn, specs: readonly Tree<ArraySpec>[]): number {
  const { jaxpr } = engine.traced(() => makeJaxpr(fn as (...a: any[]) => any)(...(specs as any[])));
  try {
    return engine.footprint(programMemory(jaxpr));
  } finally {
    jaxpr.dispose();
  }
}

/**
 * The most rows (at most `want`) that fit the engine's budget, with the
 * arguments of a call on `rows` rows given by `specsAt`. rows is 0 when not
 * even one row fits (the caller names its flag in the error).
 */
export function planRows(engine: Engine, fn: TracedFn, specsAt: (rows: number) => readonly Tree<ArraySpec>[], want: number): RowPlan {
  const one = footprintOf(engine, fn, specsAt(1));
  const two = footprintOf(engine, fn, specsAt(2));
  const perRow = Math.max(two - one, 0);
  const fixed = Math.max(one - perRow, 0);
  const budget = engine.budget;
  const most = perRow === 0 ? Infinity : Math.floor((budget - fixed) / perRow);
  return { rows: Math.max(0, Math.min(want, most)), perRow, fixed, budget };
}

/** Split n rows into the fewest chunks of at most `max` rows, all of one size (the last one padded). */
export function chunking(n: number, max: number): { size: number; count: number } {
  if (!(max >= 1)) throw new Error(`chunking: max must be >= 1, got ${max}`);
  const count = Math.ceil(n / max);
  return { size: Math.ceil(n / count), count };
}

/** The specs of a batch tree with `rows` rows on axis 0. */
export function withRows(t: Tree<ArraySpec>, rows: number): Tree<ArraySpec> {
  return mapTree(t, (s: ArraySpec) => new ArraySpec([rows, ...s.shape.slice(1)], s.dtype), (x) => x instanceof ArraySpec);
}

/** Rows [start, start + size) of every array of a host batch; rows past its end are zeros (padding). */
export function batchRows(t: Tree<Tensor>, start: number, size: number): Tree<Tensor> {
  return mapTree(t, (x: Tensor) => {
    const d = x.data.length / x.shape[0];
    const data = new Float32Array(size * d);
    data.set(x.data.subarray(start * d, Math.min(start + size, x.shape[0]) * d));
    return tensor([size, ...x.shape.slice(1)], data);
  }, isTensor);
}

export const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(bytes < 2 ** 30 ? 2 : 1)} GiB`;
