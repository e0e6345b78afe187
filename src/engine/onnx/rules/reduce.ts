import { isSym } from "../dims.js";
import { isStaticShape, unsupported, type Lowering, type Rule, type Value } from "../context.js";

/**
 * reduce {op, axis}: one ReduceX over the axes (keepdims 0). An axis the
 * input is lazily broadcast along has ONNX size 1, so it reduces to its
 * value; a sum then multiplies by the axis size and a product raises to it.
 */
const ops: Record<string, string> = { Add: "ReduceSum", Mul: "ReduceProd", Max: "ReduceMax", Min: "ReduceMin" };

export const reduceRules: Record<string, Rule> = {
  reduce: (cx, [x0], { op, axis }: { op: string; axis: number[] }, [out]) => {
    const onnxOp = ops[op];
    if (!onnxOp) unsupported(`reduce op "${op}"`);
    if (axis.length === 0) return [x0];
    // A dynamic-size lazy axis has no constant count: expand it first.
    let x = cx.materialize(x0, cx.lazyAxes(x0).filter((a) => axis.includes(a) && isSym(x0.shape[a])));
    const lazyCount = cx.lazyAxes(x).filter((a) => axis.includes(a)).reduce((n, a) => n * (x.shape[a] as number), 1);
    const bool = x.dtype === "bool";
    if (bool) {
      if (op === "Add" || op === "Mul") unsupported(`reduce op "${op}" on bool`);
      x = cx.cast(x, "int32");
    }
    let name = (op === "Add" && blockSum(cx, x, axis)) || cx.op(onnxOp, [x.name, cx.g.ints(axis)], { keepdims: 0 });
    const onnx = x.onnx.filter((_, i) => !axis.includes(i));
    if (lazyCount > 1 && op === "Add") name = cx.op("Mul", [name, cx.g.scalar(x.dtype, lazyCount)]);
    if (lazyCount > 1 && op === "Mul") {
      if (x.dtype !== "float32" && x.dtype !== "float64") unsupported(`reduce Mul over a broadcast axis on ${x.dtype}`);
      name = cx.op("Pow", [name, cx.g.scalar(x.dtype, lazyCount)]);
    }
    const res = { name, shape: out.shape, onnx, dtype: x.dtype };
    return [bool ? cx.cast(res, "bool") : res];
  },
};

/**
 * A sum over the kh x kw blocks of an image, [B, C, h, kh, w, kw] over axes
 * 3 and 5 (an average pool, or the gradient of nearest upsampling), as
 * AveragePool times kh kw: ReduceSum over those strided axes ran 4-5x slower
 * than the pooling kernel ([64, 16, 28, 28] in 2x2 blocks). Undefined: not
 * such a sum.
 */
function blockSum(cx: Lowering, x: Value, axis: number[]): string | undefined {
  const s = x.onnx;
  if (x.dtype !== "float32" || s.length !== 6 || !isStaticShape(s) || cx.lazyAxes(x).length) return undefined;
  if ([...axis].sort().join() !== "3,5") return undefined;
  const image = cx.op("Reshape", [x.name, cx.g.ints([s[0], s[1], s[2] * s[3], s[4] * s[5]])]);
  const mean = cx.op("AveragePool", [image], { kernel_shape: [s[3], s[5]], strides: [s[3], s[5]] });
  return cx.op("Mul", [mean, cx.g.scalar("float32", s[3] * s[5])]);
}
