import { dimEq, dimProd, type Dim } from "../dims.js";
import { unsupported, type Lowering, type Rule, type Value } from "../context.js";

/**
 * jax-js `dot` is sum(a * b, axis = -1) with numpy broadcasting of the other
 * axes; `np.matmul` traces as dot of [.., M, 1, K] and [.., 1, N, K]. Each
 * output axis is classified by the ONNX sizes of the two operands:
 *   batch  both > 1 (equal)     -> MatMul's batch axes
 *   m      only a > 1           -> rows
 *   n      only b > 1           -> columns
 *   one    both 1               -> inserted after (lazy if the output is larger)
 * Lazily broadcast axes have ONNX size 1, so a broadcast feeding a dot is
 * never materialised. a becomes [batch.., M, K], b [batch.., K, N] (size-1
 * axes squeezed, one transpose each, a reshape only when several axes merge),
 * one MatMul, then the result is put back in output order.
 */
type Kind = "batch" | "m" | "n" | "one";

export const dotRules: Record<string, Rule> = {
  dot: (cx, [a0, b0], _p, [out]) => {
    let [a, b] = [a0, b0];
    const K = (v: Value) => v.onnx[v.onnx.length - 1];
    if (!dimEq(K(a), K(b))) {
      // Broadcast along the contraction: expand that operand.
      if (dimEq(K(a), 1)) a = cx.materialize(a, [a.shape.length - 1]);
      else b = cx.materialize(b, [b.shape.length - 1]);
    }
    const n = out.shape.length;
    const dimOf = (v: Value, j: number): Dim => {
      const i = j - (n - (v.onnx.length - 1));
      return i >= 0 ? v.onnx[i] : 1;
    };
    const kinds: Kind[] = [];
    for (let j = 0; j < n; j++) {
      const [da, db] = [dimOf(a, j), dimOf(b, j)];
      const [ia, ib] = [!dimEq(da, 1), !dimEq(db, 1)];
      if (ia && ib && !dimEq(da, db)) unsupported(`dot of shapes [${a.onnx}] and [${b.onnx}]`);
      kinds.push(ia && ib ? "batch" : ia ? "m" : ib ? "n" : "one");
    }
    const axesOf = (k: Kind) => kinds.flatMap((x, j) => (x === k ? [j] : []));
    const [batch, ms, ns] = [axesOf("batch"), axesOf("m"), axesOf("n")];

    const A = operand(cx, a, n, [...batch, ...ms], false, batch.length);
    const B = operand(cx, b, n, [...batch, ...ns], true, batch.length);
    let name = cx.op("MatMul", [A, B]);
    // [batch.., Mp, Np] -> [batch.., m.., n..] -> output order, size-1 axes back in.
    const dims = (axes: number[], v: Value) => axes.map((j) => dimOf(v, j));
    const bdims = dims(batch, a);
    const from = [...bdims, dimProd(dims(ms, a)), dimProd(dims(ns, b))];
    const split = [...bdims, ...dims(ms, a), ...dims(ns, b)];
    name = cx.reshapeTensor(name, from, split);
    const order = [...batch, ...ms, ...ns];
    const sorted = [...order].sort((x, y) => x - y);
    const perm = sorted.map((j) => order.indexOf(j));
    name = cx.permute(name, split, perm);
    const onnx = kinds.map((k, j) => (k === "one" ? 1 : k === "n" ? dimOf(b, j) : dimOf(a, j)));
    name = cx.reshapeTensor(name, sorted.map((j) => onnx[j]), onnx);
    return [{ name, shape: out.shape, onnx, dtype: out.dtype }];
  },
};

/**
 * One MatMul operand: `v` with its size-1 axes squeezed, its kept axes
 * (output positions `keep`, batch first) transposed into place with K last
 * (a) or K before the free axes (b), the free axes merged into one.
 */
function operand(cx: Lowering, v: Value, n: number, keep: number[], isB: boolean, nb: number): string {
  const offset = n - (v.onnx.length - 1);
  const own = keep.map((j) => j - offset);
  const kAxis = v.onnx.length - 1;
  // Squeeze every axis but the kept ones and K.
  const kept = v.onnx.flatMap((_, i) => (own.includes(i) || i === kAxis ? [i] : []));
  const squeezedDims = kept.map((i) => v.onnx[i]);
  let name = cx.reshapeTensor(v.name, v.onnx, squeezedDims);
  // Transpose: a -> [batch.., free.., K], b -> [batch.., K, free..].
  const want = isB ? [...own.slice(0, nb), kAxis, ...own.slice(nb)] : [...own, kAxis];
  const perm = want.map((i) => kept.indexOf(i));
  name = cx.permute(name, squeezedDims, perm);
  const dims = want.map((i) => v.onnx[i]);
  const free = dims.filter((_, i) => (isB ? i > nb : i >= nb && i < dims.length - 1));
  const batch = dims.slice(0, nb);
  const k = v.onnx[kAxis];
  const target = isB ? [...batch, k, dimProd(free)] : [...batch, dimProd(free), k];
  return cx.reshapeTensor(name, dims, target);
}
