import { grad, makeJaxpr, numpy as np, type Array as JArray, type Jaxpr } from "@jax-js/jax";
import { silu } from "../../model/layers.js";
import type { Lowering, Out, Value } from "./context.js";
import { shapeBroadcast } from "./dims.js";
import type { Eqn } from "./program.js";
import { Spec } from "./spec.js";

/**
 * Library functions that jax-js traces as nested `jit` equations and that
 * ONNX Runtime runs in a few ops. ONNX Runtime fuses no elementwise ops, so
 * each traced primitive is a trip through memory; a function and its
 * gradient written by hand take a fraction of the trips grad's trace does:
 *
 *   tanh   jax-js writes np.tanh with exp (~14 passes, its gradient ~8):
 *          Tanh; gradient ct (1 - y^2).
 *   silu   (model/layers.ts; 5 passes, its gradient ~10): QuickGelu, or
 *          Sigmoid and Mul when the gradient is taken; gradient
 *          ct (s + y (1 - s)) with s = sigmoid(x), y = x s.
 *
 * Under grad a jit f appears as two pieces: f_jvp_peval(x..) = (y, r..)
 * (the primal and residuals) and f_jvp_resid_t(r.., ct) = the input
 * cotangents. A piece is fused only when its program hashes equal to the
 * same piece of the library function's own trace at the same shapes (a user
 * function that is merely called the same is inlined), and a peval only
 * when nothing but the matching resid_t reads its residuals: the residuals
 * then stand for what the fused gradient needs (`Saved`), whatever jax-js
 * chose to keep.
 */

type Var = Jaxpr["inBinders"][number];
export type Uses = Map<Var, { eqn?: Eqn; k: number }[]>;
/** What a fused gradient reads, by name, from its fused primal. */
export type Saved = Record<string, Value>;

/** Where each variable of `jaxpr` is used (eqn undefined: a program output). */
export function usesOf(jaxpr: Jaxpr): Uses {
  const uses: Uses = new Map();
  const add = (a: unknown, use: { eqn?: Eqn; k: number }) => {
    if (a && typeof a === "object" && "id" in a) (uses.get(a as Var) ?? uses.set(a as Var, []).get(a as Var)!).push(use);
  };
  for (const eqn of jaxpr.eqns) eqn.inputs.forEach((a, k) => add(a, { eqn, k }));
  jaxpr.outs.forEach((a, k) => add(a, { k }));
  return uses;
}

interface Fused {
  /** The jax-js function (a jit named after its library entry). */
  fn: (...args: JArray[]) => JArray;
  /** f(x..) alone. */
  call(cx: Lowering, ins: Value[], out: Out): Value;
  /** f(x..) when its gradient is taken: the primal and what the gradient reads. */
  primal(cx: Lowering, ins: Value[], out: Out): { y: Value; saved: Saved };
  /** The cotangents of the inputs, given the primal's cotangent. */
  transpose(cx: Lowering, saved: Saved, ct: Value, outs: Out[]): Value[];
}

/** An elementwise op on values of one shape (or broadcasting alike), keeping the lazy broadcast. */
function ew(cx: Lowering, op: string, a: Value, b: Value | string, shape: Out["shape"]): Value {
  const bv = typeof b === "string" ? undefined : b;
  return { ...a, name: cx.op(op, [a.name, bv ? bv.name : (b as string)]), shape, onnx: bv ? shapeBroadcast(a.onnx, bv.onnx) : a.onnx };
}

const one = (cx: Lowering) => cx.g.scalar("float32", 1);

const library: Record<string, Fused> = {
  tanh: {
    fn: (x) => np.tanh(x),
    call: (cx, [x], out) => ({ ...x, name: cx.op("Tanh", [x.name]), shape: out.shape }),
    primal: (cx, [x], out) => {
      const y = { ...x, name: cx.op("Tanh", [x.name]), shape: out.shape };
      return { y, saved: { y } };
    },
    transpose: (cx, { y }, ct, outs) => {
      const slope = { ...y, name: cx.op("Sub", [one(cx), cx.op("Mul", [y.name, y.name])]) };
      return [ew(cx, "Mul", ct, slope, outs[0].shape)];
    },
  },
  silu: {
    fn: (x) => silu(x),
    call: (cx, [x], out) => ({ ...x, name: cx.op("com.microsoft.QuickGelu", [x.name], { alpha: { f: 1 } }), shape: out.shape }),
    primal: (cx, [x], out) => {
      const s = { ...x, name: cx.op("Sigmoid", [x.name]), shape: out.shape };
      const y = ew(cx, "Mul", x, s, out.shape);
      return { y, saved: { s, y } };
    },
    transpose: (cx, { s, y }, ct, outs) => {
      // d silu / dx = s + x s (1 - s) = s + y (1 - s).
      const slope = ew(cx, "Add", ew(cx, "Mul", { ...s, name: cx.op("Sub", [one(cx), s.name]) }, y, s.shape), s, s.shape);
      return [ew(cx, "Mul", ct, slope, outs[0].shape)];
    },
  },
};

type Piece = "call" | "peval" | "resid_t";
const PIECES: [Piece, string][] = [
  ["peval", "_jvp_peval"],
  ["resid_t", "_jvp_resid_t"],
  ["call", ""],
];

/** Which library function and which piece of it a jit equation claims to be. */
function claim(eqn: Eqn): { base: string; piece: Piece } | undefined {
  const name = eqn.params.name as string;
  for (const [piece, suffix] of PIECES) {
    const base = suffix ? (name.endsWith(suffix) ? name.slice(0, -suffix.length) : "") : name;
    if (base && base in library) return { base, piece };
  }
  return undefined;
}

const refHashes = new Map<string, bigint | undefined>();
const find = (j: Jaxpr, name: string): Eqn | undefined => j.eqns.find((e) => e.primitive === "jit" && e.params.name === name);

/**
 * Is this jit equation the library function (or its gradient piece) at
 * these shapes? The reference: the function alone, and grad of its sum
 * with respect to every input, traced at the shapes of the function's
 * inputs (for a resid_t piece, read from the matching peval's inputs).
 */
function isLibrary(eqn: Eqn, base: string, piece: Piece, shapes: number[][]): boolean {
  if (eqn.inputs.some((a) => a.aval.dtype !== "float32")) return false;
  const name = eqn.params.name as string;
  const key = `${name}|${shapes.map((s) => s.join(",")).join(";")}`;
  if (!refHashes.has(key)) {
    const { fn } = library[base];
    const specs = shapes.map((s) => new Spec([...s], "float32"));
    const all = Array.from({ length: shapes.length }, (_, i) => i);
    const sum = (...a: JArray[]) => np.sum(fn(...a));
    const trace = (f: (...a: JArray[]) => any) => {
      const { jaxpr } = makeJaxpr(f)(...(specs as never[]));
      const e = find(jaxpr.jaxpr, name);
      const h = e && (e.params.jaxpr as Jaxpr).getHash();
      jaxpr.dispose();
      return h;
    };
    refHashes.set(key, piece === "call" ? trace(fn) : trace((...a: JArray[]) => grad(sum, { argnums: shapes.length === 1 ? 0 : all } as never)(...a)));
  }
  return refHashes.get(key) === (eqn.params.jaxpr as Jaxpr).getHash();
}

/**
 * Lower a jit equation as the fused library function when it is one (see
 * above); undefined: inline it. `fused` maps the residuals of a fused
 * peval to what its gradient reads.
 */
export function fuseJit(cx: Lowering, eqn: Eqn, ins: Value[], outs: Out[], uses: Uses, fused: Map<Var, Saved>): Value[] | undefined {
  const c = claim(eqn);
  if (!c) return undefined;
  const lib = library[c.base];
  const shapesOf = (e: Eqn, n?: number) => e.inputs.slice(0, n).map((a) => [...a.aval.shape]);
  if (c.piece === "call") return isLibrary(eqn, c.base, "call", shapesOf(eqn)) ? [lib.call(cx, ins, outs[0])] : undefined;
  if (c.piece === "peval") {
    const shapes = shapesOf(eqn);
    if (outs.length < 2 || !isLibrary(eqn, c.base, "peval", shapes)) return undefined;
    const residuals = eqn.outBinders.slice(1);
    const resid = `${c.base}_jvp_resid_t`;
    const onlyResidT = residuals.every((r, j) =>
      (uses.get(r) ?? []).every((u) => u.eqn && u.eqn.primitive === "jit" && u.eqn.params.name === resid && u.k === j && isLibrary(u.eqn, c.base, "resid_t", shapes)),
    );
    if (!onlyResidT) return undefined;
    const { y, saved } = lib.primal(cx, ins, outs[0]);
    residuals.forEach((r) => fused.set(r, saved));
    // The residuals' values are never read: the fused transpose reads `saved`.
    return [y, ...residuals.map(() => y)];
  }
  // resid_t(r.., ct): fused when its residuals came from one fused peval (which checked this equation).
  const res = eqn.inputs.slice(0, -1);
  const saved = fused.get(res[0] as Var);
  if (!saved || !res.every((a) => fused.get(a as Var) === saved)) return undefined;
  return lib.transpose(cx, saved, ins[ins.length - 1], outs);
}
