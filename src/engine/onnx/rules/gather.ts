import { shapeBroadcast, type Dim } from "../dims.js";
import type { Lowering, Rule, Value } from "../context.js";

/**
 * gather {axis, outDim}: out = x with the indexed axes removed and the
 * (broadcast) index shape inserted at outDim; out[.., i.., ..] =
 * x[.., idx_0[i], .., idx_k[i], ..]. One index is ONNX Gather; several are
 * GatherND over x with the indexed axes moved first.
 * scatter {op, shape, axis, outDim} is its transpose: zeros of `shape` with
 * the updates written (op "update") or added ("add") at those places: ONNX
 * ScatterND on the same layout.
 */

/** Indices as one int64 tensor: [..idx] for one index, [..idx, k] for k. */
function indexTensor(cx: Lowering, indices: Value[]): string {
  const shape = shapeBroadcast(...indices.map((v) => v.shape));
  const parts = indices.map((v) => {
    const name = cx.op("Cast", [cx.materialize(v).name], { to: INT64 });
    return indices.length === 1 ? name : cx.op("Expand", [name, cx.g.dims(shape)]);
  });
  if (parts.length === 1) return parts[0];
  return cx.op("Concat", parts.map((p) => cx.op("Unsqueeze", [p, cx.g.ints([shape.length])])), { axis: -1 });
}

const INT64 = 7;

/** The permutation that moves `axis` (in order) to the front. */
const axesFirst = (rank: number, axis: number[]) => [...axis, ...Array.from({ length: rank }, (_, i) => i).filter((i) => !axis.includes(i))];

/** Move a block of `len` axes starting at `from` to start at `to`. */
function moveBlock(rank: number, from: number, len: number, to: number): number[] {
  const rest = Array.from({ length: rank }, (_, i) => i).filter((i) => i < from || i >= from + len);
  const block = Array.from({ length: len }, (_, i) => from + i);
  return [...rest.slice(0, to), ...block, ...rest.slice(to)];
}

export const gatherRules: Record<string, Rule> = {
  gather: (cx, [x0, ...indices], { axis, outDim }: { axis: number[]; outDim: number }, [out]) => {
    const x = cx.materialize(x0);
    const idx = indexTensor(cx, indices);
    const nIdx = shapeBroadcast(...indices.map((v) => v.shape)).length;
    let name: string;
    let at: number;
    if (axis.length === 1) {
      name = cx.op("Gather", [x.name, idx], { axis: axis[0] });
      at = axis[0];
    } else {
      const xt = cx.transpose(x, axesFirst(x.shape.length, axis));
      name = cx.op("GatherND", [xt.name, idx]);
      at = 0;
    }
    const perm = moveBlock(out.shape.length, at, nIdx, outDim);
    const before: Dim[] = [];
    perm.forEach((p, i) => (before[p] = out.shape[i]));
    name = cx.permute(name, before, perm);
    return [cx.full(name, out.shape, out.dtype)];
  },

  scatter: (cx, [u0, ...indices], { op, axis, outDim }: { op: string; axis: number[]; outDim: number }, [out]) => {
    const updates = cx.materialize(u0);
    const idx = indexTensor(cx, indices);
    const nIdx = shapeBroadcast(...indices.map((v) => v.shape)).length;
    // ScatterND: data with the indexed axes first, indices [..idx, k],
    // updates [..idx, the other axes].
    const first = axesFirst(out.shape.length, axis);
    const index = axis.length === 1 ? cx.op("Unsqueeze", [idx, cx.g.ints([nIdx])]) : idx;
    const upd = cx.transpose(updates, moveBlock(updates.shape.length, outDim, nIdx, 0));
    const dataShape = first.map((a) => out.shape[a]);
    const zeros = cx.op("Expand", [cx.g.scalar(out.dtype, 0), cx.g.dims(dataShape)]);
    const scattered = cx.op("ScatterND", [zeros, index, upd.name], { reduction: op === "add" ? "add" : "none" });
    return [cx.transpose(cx.full(scattered, dataShape, out.dtype), first.map((_, i) => first.indexOf(i)))];
  },
};
