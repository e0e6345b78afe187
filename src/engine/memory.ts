import type { ClosedJaxpr, Jaxpr } from "@jax-js/jax";

/**
 * What a traced program needs in memory, read off its jaxpr (no compute):
 * - `inputs`: bytes of its arguments;
 * - `total`: bytes of every intermediate value (nested jaxprs included), what
 *   an engine that allocates the whole program up front holds at once (jax-js's
 *   jit schedules every kernel before it runs one, so all its buffers are live
 *   together; fusion only removes some of them, so this bounds it from above);
 * - `peak`: the most bytes alive at one time when each value is freed after
 *   its last use, what a memory-planning runtime (ONNX Runtime) needs. A
 *   `broadcast` (and a transpose or reshape of one) is counted at the size
 *   of what it broadcasts: the ONNX lowering keeps broadcasts lazy (size-1
 *   axes; context.ts), and grad's dense-layer transposes broadcast
 *   [rows, 128, 512] products that the lowering turns into one MatMul.
 *   Counted in full they made the text Transformer's step look 100x bigger
 *   than it is and split its batch into needless micro-batches.
 */
export interface ProgramMemory {
  inputs: number;
  total: number;
  peak: number;
}

interface Atom {
  aval?: { shape: number[]; dtype: string };
}

const BYTES: Record<string, number> = { float32: 4, int32: 4, uint32: 4, bool: 1, float16: 2, float64: 8 };

function bytesOf(a: Atom): number {
  if (!a.aval) return 0; // a literal
  return a.aval.shape.reduce((n, d) => n * d, 1) * (BYTES[a.aval.dtype] ?? 4);
}

/** Memory statistics of a traced program (see ProgramMemory). */
export function programMemory(closed: ClosedJaxpr): ProgramMemory {
  const j = closed.jaxpr;
  const inputs = j.inBinders.reduce((n, v) => n + bytesOf(v), 0);
  const { total, peak } = walk(j);
  return { inputs, total, peak };
}

function walk(j: Jaxpr): { total: number; peak: number } {
  const lastUse = new Map<unknown, number>();
  j.eqns.forEach((e, i) => e.inputs.forEach((a) => lastUse.set(a, i)));
  for (const o of j.outs) lastUse.set(o, Infinity);
  let live = j.inBinders.reduce((n, v) => n + bytesOf(v), 0);
  let peak = live;
  let total = 0;
  // Bytes each lazily broadcast value really holds (its source's).
  const lazy = new Map<unknown, number>();
  const held = (a: unknown) => lazy.get(a) ?? bytesOf(a as Atom);
  j.eqns.forEach((e, i) => {
    // A nested program (a jit inside the trace) runs while this equation's inputs are alive.
    let inner = 0;
    for (const p of Object.values(e.params)) {
      const sub = nestedJaxpr(p);
      if (sub) {
        const s = walk(sub);
        total += s.total;
        inner = Math.max(inner, s.peak);
      }
    }
    const view = e.primitive === "broadcast" || ((e.primitive === "transpose" || e.primitive === "reshape") && lazy.has(e.inputs[0]));
    for (const o of e.outBinders) {
      if (view) lazy.set(o, held(e.inputs[0]));
      live += held(o);
      total += bytesOf(o);
    }
    peak = Math.max(peak, live + inner);
    for (const a of new Set(e.inputs)) if (lastUse.get(a) === i) live -= held(a);
  });
  return { total, peak };
}

function nestedJaxpr(p: unknown): Jaxpr | undefined {
  if (!p || typeof p !== "object") return undefined;
  if ("eqns" in p && "inBinders" in p) return p as Jaxpr;
  if ("jaxpr" in p) return nestedJaxpr((p as { jaxpr: unknown }).jaxpr);
  return undefined;
}
