import { isSym } from "../dims.js";
import { unsupported, type Rule } from "../context.js";

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
    let name = cx.op(onnxOp, [x.name, cx.g.ints(axis)], { keepdims: 0 });
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
