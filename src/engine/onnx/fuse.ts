import { grad, makeJaxpr, nn, numpy as np, type Array as JArray, type Jaxpr } from "@jax-js/jax";
import { groupNormChannelsFirst } from "../../model/conv.js";
import { layerNormLast, silu, softmax } from "../../model/layers.js";
import type { Lowering, Out, Value } from "./context.js";
import { dimProd, shapeBroadcast, type Dim } from "./dims.js";
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
 *   gelu   jax-js's nn.gelu (tanh form; with its nested tanh ~15 passes, its
 *          gradient ~30: a third of a Transformer train step): FastGelu,
 *          or, when the gradient is taken, y = x S with S = sigmoid(2u) =
 *          (1 + tanh u) / 2, 2u = x 2c (1 + a x^2) (5 passes, the affine maps
 *          one each); gradient ct (S + y (1 - S) 2c (1 + 3a x^2)) (6).
 *   softmax  (model/layers.ts, last axis; ~5 passes, its gradient ~8):
 *          Softmax; gradient y (ct - sum(ct y)).
 *   layerNorm  (model/layers.ts, last axis): ONNX LayerNormalization, which
 *          also returns the mean and 1/std; the gradient recomputes xhat in
 *          one pass and takes the closed form over the last axis.
 *   groupNorm  (model/conv.ts, channels-first; traced, 7 passes and its
 *          gradient 12): each group standardised by LayerNormalization
 *          (keeping xhat and 1/std), the per-channel affine map as
 *          BatchNormalization; the gradient in closed form, with g = ct scale
 *          and means over the group,
 *            dx = (g - mean(g) - xhat mean(g xhat)) / std,
 *            dscale = sum ct xhat, dshift = sum ct (over batch and pixels),
 *          from the per-(image, channel) sums of ct and ct xhat (normalize
 *          and the transpose below).
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
  /** The jax-js function (a jit named after its library entry), built with `variant`. */
  fn(variant: number): (...args: JArray[]) => JArray;
  /** What the function is built with (group norm: the group count), read from a traced call or peval. */
  variant?(j: Jaxpr): number | undefined;
  /**
   * The shapes f was called with, given those of a traced piece (default: the
   * same). softmax's stop_gradient gives its peval one more input first.
   */
  primalShapes?(shapes: number[][]): number[][];
  /** f(x..) alone. */
  call(cx: Lowering, ins: Value[], out: Out, variant: number): Value;
  /** f(x..) when its gradient is taken: the primal and what the gradient reads. */
  primal(cx: Lowering, ins: Value[], out: Out, variant: number): { y: Value; saved: Saved };
  /** The cotangents of the inputs, given the primal's cotangent. */
  transpose(cx: Lowering, saved: Saved, ct: Value, outs: Out[]): Value[];
}

/** An elementwise op on values of one shape (or broadcasting alike), keeping the lazy broadcast. */
function ew(cx: Lowering, op: string, a: Value, b: Value | string, shape: Out["shape"]): Value {
  const bv = typeof b === "string" ? undefined : b;
  return { ...a, name: cx.op(op, [a.name, bv ? bv.name : (b as string)]), shape, onnx: bv ? shapeBroadcast(a.onnx, bv.onnx) : a.onnx };
}

const scalar = (cx: Lowering, v: number) => cx.g.scalar("float32", v);
const one = (cx: Lowering) => scalar(cx, 1);
// jax-js's gelu: x (1 + tanh(GELU_C (x + GELU_A x^3))) / 2.
const GELU_A = 0.044715;
const GELU_C = Math.sqrt(2 / Math.PI);

const library: Record<string, Fused> = {
  tanh: {
    fn: () => (x) => np.tanh(x),
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
    fn: () => (x) => silu(x),
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
  gelu: {
    fn: () => (x) => nn.gelu(x),
    call: (cx, [x], out) => ({ ...x, name: cx.op("com.microsoft.FastGelu", [x.name]), shape: out.shape }),
    primal: (cx, [x], out) => {
      // (1 + tanh u) / 2 = sigmoid(2 u): y = x S with S = sigmoid(x w), w = 2c (1 + a x^2).
      const x2 = cx.op("Mul", [x.name, x.name]);
      const S = cx.op("Sigmoid", [cx.op("Mul", [x.name, affine(cx, x2, x.onnx, 2 * GELU_C * GELU_A, 2 * GELU_C)])]);
      const y = { ...x, name: cx.op("Mul", [x.name, S]), shape: out.shape };
      return { y, saved: { x2: { ...x, name: x2 }, S: { ...x, name: S }, y } };
    },
    transpose: (cx, { x2, S, y }, ct, outs) => {
      // dy/dx = S + x S (1 - S) 2u' = S + y (1 - S) 2c (1 + 3a x^2).
      const du = affine(cx, x2.name, x2.onnx, 6 * GELU_C * GELU_A, 2 * GELU_C);
      const tail = cx.op("Mul", [cx.op("Mul", [y.name, affine(cx, S.name, S.onnx, -1, 1)]), du]);
      const slope = { ...y, name: cx.op("Add", [tail, S.name]) };
      return [ew(cx, "Mul", ct, slope, outs[0].shape)];
    },
  },
  softmax: {
    fn: () => (x) => softmax(x),
    primalShapes: (shapes) => shapes.slice(-1),
    call: (cx, ins, out) => softmaxOf(cx, ins[ins.length - 1], out),
    primal: (cx, ins, out) => {
      const y = softmaxOf(cx, ins[ins.length - 1], out);
      return { y, saved: { y } };
    },
    transpose: (cx, { y }, ct0, outs) => {
      const ct = cx.materialize(ct0);
      const dot = cx.op("ReduceSum", [cx.op("Mul", [ct.name, y.name]), cx.g.ints([-1])], { keepdims: 1 });
      return [cx.full(cx.op("Mul", [y.name, cx.op("Sub", [ct.name, dot])]), outs[0].shape, "float32")];
    },
  },
  layerNorm: {
    fn: () => (x, g, b) => layerNormLast(x, g, b),
    call: (cx, ins, out) => normalizeLast(cx, ins, out).y,
    primal: (cx, ins, out) => {
      const { y, x, mean, rstd, scale } = normalizeLast(cx, ins, out);
      return { y, saved: { x, mean, rstd, scale } };
    },
    transpose: (cx, { x, mean, rstd, scale }, ct0, [dxOut, dscaleOut, dshiftOut]) => {
      const ct = cx.materialize(ct0);
      // xhat = (x - mean) / std = x rstd - mean rstd, one pass.
      const negMean = cx.op("Neg", [cx.op("Mul", [mean.name, rstd.name])]);
      const xhat = { ...x, name: rowAffine(cx, x.name, x.shape, rstd.name, negMean, rstd.shape) };
      const lead = cx.g.ints(ct.shape.slice(0, -1).map((_, i) => i));
      const sum = (v: string, out: Out) => cx.full(cx.op("ReduceSum", [v, lead], { keepdims: 0 }), out.shape, "float32");
      const dx = standardizeGrad(cx, cx.op("Mul", [ct.name, scale.name]), xhat.name, rstd.name);
      return [cx.full(dx, dxOut.shape, "float32"), sum(cx.op("Mul", [ct.name, xhat.name]), dscaleOut), sum(ct.name, dshiftOut)];
    },
  },
  groupNorm: {
    fn: (groups) => groupNormChannelsFirst(groups),
    variant: (j) => {
      const shape = j.eqns.find((e) => e.primitive === "reshape")?.outBinders[0].aval.shape;
      return shape?.length === 3 ? shape[1] : undefined;
    },
    call: (cx, ins, out, groups) => normalize(cx, ins, out, groups).y,
    primal: (cx, ins, out, groups) => {
      const { y, xhat, rstd, scale } = normalize(cx, ins, out, groups);
      return { y, saved: { xhat, rstd, scale } };
    },
    transpose: (cx, { xhat, rstd, scale }, ct0, [dxOut, dscaleOut, dshiftOut]) => {
      // With S1 = sum ct and S2 = sum ct xhat per image and channel (over
      // the pixels), every group mean is a small sum over its channels:
      //   mean(g) = sum_c scale_c S1 / n,  mean(g xhat) = sum_c scale_c S2 / n,
      //   dx = ct (rstd scale_c) + xhat (-rstd mean(g xhat)) - rstd mean(g),
      // three passes over the image (a Mul, an Add and a per-(image, channel)
      // affine map as BatchNormalization) besides the two sums.
      const ct = cx.materialize(ct0);
      const shape = ct.shape;
      const [B, C] = shape;
      const G = rstd.shape[1] as number;
      const cg = (C as number) / G;
      const n = (dimProd(shape.slice(1) as Dim[]) as number) / G;
      const flat: Dim[] = [B, C, dimProd(shape.slice(2) as Dim[])];
      const ctf = cx.reshapeTensor(ct.name, shape, flat);
      const xhatf = cx.reshapeTensor(xhat.name, shape, flat);
      const last = cx.g.ints([-1]);
      const S1 = cx.op("ReduceSum", [ctf, last], { keepdims: 0 });
      const S2 = cx.op("ReduceSum", [cx.op("Mul", [ctf, xhatf]), last], { keepdims: 0 });
      const batchSum = (v: string, out: Out) => cx.full(cx.op("ReduceSum", [v, cx.g.ints([0])], { keepdims: 0 }), out.shape, "float32");
      const scaleG = cx.reshapeTensor(scale.name, [C], [G, cg]);
      const groupMean = (S: string) => cx.op("Mul", [cx.op("ReduceSum", [cx.op("Mul", [cx.reshapeTensor(S, [B, C], [B, G, cg]), scaleG]), last], { keepdims: 1 }), scalar(cx, 1 / n)]);
      const negRstd = cx.op("Neg", [rstd.name]); // [B, G, 1]
      const perImage = (v: string) => cx.reshapeTensor(cx.op("Expand", [v, cx.g.dims([B, G, cg])]), [B, G, cg], [B, C]);
      const A = cx.reshapeTensor(cx.op("Mul", [rstd.name, scaleG]), [B, G, cg], [B, C]);
      const K = perImage(cx.op("Mul", [negRstd, groupMean(S2)]));
      const bias = perImage(cx.op("Mul", [negRstd, groupMean(S1)]));
      const affine = rowAffine(cx, ctf, flat, A, bias, [B, C]);
      const dx = cx.op("Add", [affine, cx.op("Mul", [xhatf, cx.reshapeTensor(K, [B, C], [B, C, 1])])]);
      return [cx.full(cx.reshapeTensor(dx, flat, shape), dxOut.shape, "float32"), batchSum(S2, dscaleOut), batchSum(S1, dshiftOut)];
    },
  },
};

/**
 * Group norm of channels-first x [B, C, ..]: each group [B, G, C/G pixels]
 * standardised by ONNX LayerNormalization (which also returns 1/std [B, G,
 * 1]; it accumulates in double, two reads and one write where the traced
 * form took seven passes), then y = xhat scale + shift per channel in one
 * pass (BatchNormalization with mean 0 and variance 1). `scale` is returned
 * as the [C] vector.
 */
function normalize(cx: Lowering, [x0, scale0, shift0]: Value[], out: Out, groups: number) {
  const x = cx.materialize(x0);
  const shape = x.shape;
  const n = dimProd(shape.slice(1) as Dim[]);
  if (typeof n !== "number") throw new Error("onnx lowering: internal: group norm over batch-dependent axes");
  const grouped: Dim[] = [shape[0], groups, n / groups];
  const C = shape[1] as number;
  const fill = (k: number, v: number) => cx.g.constant("float32", [k], new Float32Array(k).fill(v));
  const xg = cx.reshapeTensor(x.name, x.onnx, grouped);
  const [xhatG, , rstd] = cx.g.node("LayerNormalization", [xg, fill(n / groups, 1), fill(n / groups, 0)], { axis: -1, epsilon: { f: 1e-5 } }, 3);
  const xhat = cx.reshapeTensor(xhatG, grouped, shape);
  const scale = cx.materialize(scale0);
  const shift = cx.materialize(shift0);
  const y = cx.op("BatchNormalization", [xhat, scale.name, shift.name, fill(C, 0), fill(C, 1)], { epsilon: { f: 0 } });
  return {
    y: cx.full(y, out.shape, "float32"),
    xhat: cx.full(xhat, shape, "float32"),
    rstd: cx.full(rstd, [shape[0], groups, 1], "float32"),
    scale,
  };
}

/**
 * v [.., P] times a plus b, one coefficient pair per row (a and b of shape
 * `ab`: the rows' dims, or with a trailing 1), in one pass:
 * BatchNormalization over the rows as channels (mean 0, variance 1,
 * epsilon 0).
 */
function rowAffine(cx: Lowering, v: string, dims: readonly Dim[], a: string, b: string, ab: readonly Dim[]): string {
  const rows = [dimProd(dims.slice(0, -1))];
  const flat = [1, rows[0], dims[dims.length - 1]];
  const fill = (value: number) => cx.op("Expand", [scalar(cx, value), cx.g.dims(rows)]);
  const bn = cx.op("BatchNormalization", [cx.reshapeTensor(v, dims, flat), cx.reshapeTensor(a, ab, rows), cx.reshapeTensor(b, ab, rows), fill(0), fill(1)], { epsilon: { f: 0 } });
  return cx.reshapeTensor(bn, flat, dims);
}

/**
 * v k + b for numbers k and b, in one pass (BatchNormalization of v as one
 * channel; a Mul and an Add make two).
 */
function affine(cx: Lowering, v: string, dims: readonly Dim[], k: number, b: number): string {
  const one = (value: number) => cx.g.constant("float32", [1], Float32Array.of(value));
  const flat = cx.op("Reshape", [v, cx.g.ints([1, 1, -1])]);
  const bn = cx.op("BatchNormalization", [flat, one(k), one(b), one(0), one(1)], { epsilon: { f: 0 } });
  return cx.op("Reshape", [bn, cx.g.dims(dims)]);
}

/** The gradient of standardising the last axis, given g = the cotangent of xhat: (g - mean(g) - xhat mean(g xhat)) / std. */
function standardizeGrad(cx: Lowering, g: string, xhat: string, rstd: string): string {
  const mean = (v: string) => cx.op("ReduceMean", [v, cx.g.ints([-1])], { keepdims: 1 });
  const centred = cx.op("Sub", [cx.op("Sub", [g, cx.op("Mul", [xhat, mean(cx.op("Mul", [g, xhat]))])]), mean(g)]);
  return cx.op("Mul", [centred, rstd]);
}

/** Softmax over the last axis of x (materialised: the sum must see every entry). */
function softmaxOf(cx: Lowering, x0: Value, out: Out): Value {
  const x = cx.materialize(x0);
  return cx.full(cx.op("Softmax", [x.name], { axis: -1 }), out.shape, "float32");
}

/** LayerNorm of x [.., D] over its last axis (ONNX LayerNormalization): y, and x, the mean and 1/std [.., 1] and the scale [D] for the gradient. */
function normalizeLast(cx: Lowering, [x0, scale0, shift0]: Value[], out: Out) {
  const x = cx.materialize(x0);
  const scale = cx.materialize(scale0);
  const [y, mean, rstd] = cx.g.node("LayerNormalization", [x.name, scale.name, cx.materialize(shift0).name], { axis: -1, epsilon: { f: 1e-5 } }, 3);
  const stat = (v: string) => cx.full(v, [...x.shape.slice(0, -1), 1], "float32");
  return { y: cx.full(y, out.shape, "float32"), x, mean: stat(mean), rstd: stat(rstd), scale };
}

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
 * inputs (for a resid_t piece, those of the matching peval).
 */
function isLibrary(eqn: Eqn, base: string, piece: Piece, shapes: number[][], variant: number): boolean {
  if (eqn.inputs.some((a) => a.aval.dtype !== "float32")) return false;
  const name = eqn.params.name as string;
  const key = `${name}|${variant}|${shapes.map((s) => s.join(",")).join(";")}`;
  if (!refHashes.has(key)) {
    const fn = library[base].fn(variant);
    const primal = library[base].primalShapes?.(shapes) ?? shapes;
    const specs = primal.map((s) => new Spec([...s], "float32"));
    const all = Array.from({ length: primal.length }, (_, i) => i);
    const sum = (...a: JArray[]) => np.sum(fn(...a));
    const trace = (f: (...a: JArray[]) => any) => {
      const { jaxpr } = makeJaxpr(f)(...(specs as never[]));
      const e = find(jaxpr.jaxpr, name);
      const h = e && (e.params.jaxpr as Jaxpr).getHash();
      jaxpr.dispose();
      return h;
    };
    refHashes.set(key, piece === "call" ? trace(fn) : trace((...a: JArray[]) => grad(sum, { argnums: primal.length === 1 ? 0 : all } as never)(...a)));
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
  const shapes = eqn.inputs.map((a) => [...a.aval.shape]);
  if (c.piece === "resid_t") {
    // Fused when its residuals came from one fused peval (which checked this equation).
    const res = eqn.inputs.slice(0, -1);
    const saved = fused.get(res[0] as Var);
    if (!saved || !res.every((a) => fused.get(a as Var) === saved)) return undefined;
    return lib.transpose(cx, saved, ins[ins.length - 1], outs);
  }
  const variant = lib.variant ? lib.variant(eqn.params.jaxpr as Jaxpr) : 0;
  if (variant === undefined || !isLibrary(eqn, c.base, c.piece, shapes, variant)) return undefined;
  if (c.piece === "call") return [lib.call(cx, ins, outs[0], variant)];
  const residuals = eqn.outBinders.slice(1);
  const resid = `${c.base}_jvp_resid_t`;
  const onlyResidT =
    residuals.length > 0 &&
    residuals.every((r, j) =>
      (uses.get(r) ?? []).every((u) => u.eqn && u.eqn.primitive === "jit" && u.eqn.params.name === resid && u.k === j && isLibrary(u.eqn, c.base, "resid_t", shapes, variant)),
    );
  if (!onlyResidT) return undefined;
  const { y, saved } = lib.primal(cx, ins, outs[0], variant);
  residuals.forEach((r) => fused.set(r, saved));
  // The residuals' values are never read: the fused transpose reads `saved`.
  return [y, ...residuals.map(() => y)];
}
