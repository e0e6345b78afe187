import { shapeBroadcast, type Dim } from "../dims.js";
import { isStaticShape, unsupported, type Lowering, type Out, type Rule, type Value } from "../context.js";

/**
 * Elementwise primitives. jax-js and ONNX broadcast alike (numpy, right
 * aligned), so inputs are used as they are, lazily broadcast or not, and the
 * result keeps whatever axes stay size 1.
 */

const isFloat = (v: Value) => v.dtype === "float32" || v.dtype === "float64" || v.dtype === "float16";

function result(cx: Lowering, op: string, ins0: Value[], out: Out, attrs?: Record<string, number>): Value[] {
  const onnx = shapeBroadcast(...ins0.map((v) => v.onnx));
  const ins = ins0.length === 2 && cx.tuning.widenBroadcasts !== false ? ins0.map((v) => widenInnerBroadcast(cx, v, onnx)) : ins0;
  const name = cx.op(op, ins.map((v) => v.name), attrs);
  return [{ name, shape: out.shape, onnx, dtype: out.dtype }];
}

/**
 * ONNX Runtime loops a broadcast binary op in spans of the innermost axes
 * along which neither operand is broadcast: x [B, N, G, 2] * s [B, 1, G, 1]
 * runs in spans of 2 elements, an order of magnitude slower than a plain
 * pass. When the operand is small, expanding it on its innermost broadcast
 * axes (here to [B, 1, G, 2]) lengthens the span at little cost.
 */
function widenInnerBroadcast(cx: Lowering, v: Value, out: readonly Dim[]): Value {
  const r = out.length;
  if (!isStaticShape(out) || !isStaticShape(v.onnx)) return v;
  const outSize = out.reduce((a, b) => a * b, 1);
  if (outSize < 1 << 14) return v;
  // Right-aligned, as ONNX broadcasts (Expand adds the leading axes).
  const target = [...new Array<number>(r - v.onnx.length).fill(1), ...v.onnx];
  let size = target.reduce((a, b) => a * b, 1);
  let j = r - 1;
  // Skip the innermost axes both operands already share.
  while (j >= 0 && target[j] === out[j]) j--;
  for (; j >= 0 && (target[j] === 1 || target[j] === out[j]); j--) {
    if (target[j] === out[j]) continue;
    if (size * out[j] > outSize / 16) break;
    size *= out[j];
    target[j] = out[j];
  }
  if (target.every((d, i) => d === v.onnx[i - (r - v.onnx.length)])) return v;
  // Only worth it when the innermost axes end up shared.
  if (target[r - 1] !== out[r - 1]) return v;
  return { ...v, name: cx.op("Expand", [v.name, cx.g.ints(target)]), onnx: target };
}

/** A rule that picks the ONNX op by the output dtype. */
const byType = (pick: (dtype: string) => string | undefined, prim: string): Rule => (cx, ins, _p, [out]) => {
  const op = pick(out.dtype);
  if (!op) unsupported(`primitive "${prim}" on ${out.dtype}`);
  return result(cx, op, ins, out);
};

/** A float-only unary op; its integer form (when jax-js allows one) is the identity. */
const floatUnary = (op: string, prim: string, intIdentity = false): Rule => (cx, [x], _p, [out]) => {
  if (isFloat(x)) return result(cx, op, [x], out);
  if (intIdentity) return [x];
  return unsupported(`primitive "${prim}" on ${x.dtype}`);
};

/** Round toward zero, which ONNX lacks: floor above 0, ceil below. */
function trunc(cx: Lowering, q: Value): string {
  const neg = cx.op("Less", [q.name, cx.g.scalar(q.dtype, 0)]);
  return cx.op("Where", [neg, cx.op("Ceil", [q.name]), cx.op("Floor", [q.name])]);
}

export const elementwiseRules: Record<string, Rule> = {
  add: byType((t) => (t === "bool" ? "Or" : "Add"), "add"),
  mul: byType((t) => (t === "bool" ? "And" : "Mul"), "mul"),
  min: byType((t) => (t === "bool" ? "And" : "Min"), "min"),
  max: byType((t) => (t === "bool" ? "Or" : "Max"), "max"),
  // jax-js: idiv = trunc(a / b) (integer division rounds toward zero like C),
  // mod = a - b trunc(a / b): the sign of the numerator (C fmod).
  idiv: (cx, ins, _p, [out]) => {
    if (out.dtype === "bool") unsupported(`primitive "idiv" on bool`);
    const [q] = result(cx, "Div", ins, out);
    return isFloat(q) ? [{ ...q, name: trunc(cx, q) }] : [q];
  },
  mod: (cx, ins, _p, [out]) => {
    if (out.dtype === "bool") unsupported(`primitive "mod" on bool`);
    return result(cx, "Mod", ins, out, { fmod: 1 });
  },
  neg: (cx, [x], _p, [out]) => {
    if (x.dtype === "bool") unsupported(`primitive "neg" on bool`);
    if (x.dtype === "uint32") return result(cx, "Sub", [cx.full(cx.g.scalar("uint32", 0), [], "uint32"), x], out);
    return result(cx, "Neg", [x], out);
  },
  reciprocal: (cx, [x], _p, [out]) => {
    if (isFloat(x)) return result(cx, "Reciprocal", [x], out);
    return result(cx, "Div", [cx.full(cx.g.scalar(x.dtype, 1), [], x.dtype), x], out);
  },
  floor: floatUnary("Floor", "floor", true),
  ceil: floatUnary("Ceil", "ceil", true),
  sin: floatUnary("Sin", "sin"),
  cos: floatUnary("Cos", "cos"),
  asin: floatUnary("Asin", "asin"),
  atan: floatUnary("Atan", "atan"),
  exp: floatUnary("Exp", "exp"),
  log: floatUnary("Log", "log"),
  erf: floatUnary("Erf", "erf"),
  sqrt: floatUnary("Sqrt", "sqrt"),
  erfc: (cx, [x], _p, [out]) => {
    if (!isFloat(x)) unsupported(`primitive "erfc" on ${x.dtype}`);
    const erf = cx.op("Erf", [x.name]);
    return [{ ...x, name: cx.op("Sub", [cx.g.scalar(x.dtype, 1), erf]) }];
  },
  stop_gradient: (_cx, [x]) => [x],
  cast: (cx, [x], _p, [out]) => [cx.cast(x, out.dtype)],
  compare: (cx, ins, { op }: { op: string }, [out]) => {
    // ONNX Less/LessOrEqual take no bool: compare bools as 0/1 integers.
    const args = op === "less" || op === "less_equal" ? ins.map((v) => (v.dtype === "bool" ? cx.cast(v, "int32") : v)) : ins;
    const onnx = shapeBroadcast(...args.map((v) => v.onnx));
    const names = args.map((v) => v.name);
    let name: string;
    if (op === "less") name = cx.op("Less", names);
    else if (op === "less_equal") name = cx.op("LessOrEqual", names);
    else if (op === "equal") name = cx.op("Equal", names);
    else if (op === "not_equal") name = cx.op("Not", [cx.op("Equal", names)]);
    else return unsupported(`compare op "${op}"`);
    return [{ name, shape: out.shape, onnx, dtype: out.dtype }];
  },
  where: (cx, ins, _p, [out]) => {
    if (out.dtype !== "bool") return result(cx, "Where", ins, out);
    // ONNX Runtime's Where has no bool kernel: (c and x) or (not c and y).
    const [c, x, y] = ins.map((v) => v.name);
    const name = cx.op("Or", [cx.op("And", [c, x]), cx.op("And", [cx.op("Not", [c]), y])]);
    return [{ name, shape: out.shape, onnx: shapeBroadcast(...ins.map((v) => v.onnx)), dtype: out.dtype }];
  },
  bit_combine: (cx, ins, { op }: { op: string }, [out]) => {
    const bool = out.dtype === "bool";
    const name = { and: bool ? "And" : "BitwiseAnd", or: bool ? "Or" : "BitwiseOr", xor: bool ? "Xor" : "BitwiseXor" }[op];
    if (!name) unsupported(`bit_combine op "${op}"`);
    return result(cx, name, ins, out);
  },
};
