import { dimAdd, dimEq, shapeEq, type Dim } from "../dims.js";
import { BIG } from "../graph.js";
import type { Rule, Value } from "../context.js";

/**
 * Movement primitives: transpose, broadcast, reshape, concatenate, split,
 * shrink (slice), pad, flip. A broadcast is an Unsqueeze (the new and the
 * stretched axes stay size 1 in ONNX); slicing or flipping such an axis is a
 * no-op; only concatenate, pad and a reshape that mixes axes expand it.
 */

const nonUnit = (s: readonly Dim[]) => s.filter((d) => !dimEq(d, 1));

export const movementRules: Record<string, Rule> = {
  transpose: (cx, [x], { perm }: { perm: number[] }) => [cx.transpose(x, perm)],

  broadcast: (cx, [x], { axis }: { axis: number[] }, [out]) => {
    const onnx = [...x.onnx];
    for (const a of [...axis].sort((p, q) => p - q)) onnx.splice(a, 0, 1);
    return [{ name: cx.reshapeTensor(x.name, x.onnx, onnx), shape: out.shape, onnx, dtype: x.dtype }];
  },

  reshape: (cx, [x0], _p, [out]) => {
    let x = x0;
    if (cx.lazyAxes(x).length > 0) {
      // Only size-1 axes come or go: keep the broadcast lazy.
      if (shapeEq(nonUnit(x.shape), nonUnit(out.shape))) {
        const kept = x.shape.flatMap((d, i) => (dimEq(d, 1) ? [] : [x.onnx[i]]));
        let next = 0;
        const onnx = out.shape.map((d) => (dimEq(d, 1) ? 1 : kept[next++]));
        return [{ name: cx.reshapeTensor(x.name, x.onnx, onnx), shape: out.shape, onnx, dtype: x.dtype }];
      }
      x = cx.materialize(x);
    }
    return [cx.reshape(x, out.shape)];
  },

  concatenate: (cx, ins, { axis }: { axis: number }, [out]) => {
    const full = ins.map((v) => cx.materialize(v));
    if (full.length === 1) return full;
    return [cx.full(cx.op("Concat", full.map((v) => v.name), { axis }), out.shape, out.dtype)];
  },

  split: (cx, [x], { axis }: { axis: number }, outs) => {
    // Constant along the axis: every part is the same (lazy) tensor.
    if (cx.lazyAxes(x).includes(axis)) return outs.map((o) => ({ name: x.name, shape: o.shape, onnx: x.onnx, dtype: x.dtype }));
    const sizes = outs.map((o) => o.shape[axis]);
    const names = cx.g.node("Split", [x.name, cx.g.dims(sizes)], { axis }, outs.length);
    return outs.map((o, i) => ({ name: names[i], shape: o.shape, onnx: x.onnx.map((d, a) => (a === axis ? sizes[i] : d)), dtype: x.dtype }));
  },

  shrink: (cx, [x], { slice }: { slice: [Dim, Dim][] }, [out]) => {
    const lazy = cx.lazyAxes(x);
    const axes: number[] = [];
    const starts: Dim[] = [];
    const ends: Dim[] = [];
    const onnx = x.onnx.map((d, i) => (lazy.includes(i) ? 1 : out.shape[i]));
    slice.forEach(([s, e], i) => {
      if (lazy.includes(i) || (dimEq(s, 0) && dimEq(e, x.shape[i]))) return;
      axes.push(i);
      starts.push(s);
      ends.push(dimEq(e, x.shape[i]) ? BIG : e);
    });
    return [cx.slice(x, axes, starts, ends, undefined, out.shape, onnx)];
  },

  pad: (cx, [x0], { width }: { width: [Dim, Dim][] }, [out]) => {
    const padded = width.flatMap(([lo, hi], i) => (dimEq(lo, 0) && dimEq(hi, 0) ? [] : [i]));
    let x: Value = cx.materialize(x0, padded);
    // Negative widths cut: slice those first, pad with the rest.
    const cut = width.flatMap(([lo, hi], i) => (neg(lo) || neg(hi) ? [i] : []));
    if (cut.length) {
      const starts = cut.map((i) => (neg(width[i][0]) ? -(width[i][0] as number) : 0));
      const ends = cut.map((i) => (neg(width[i][1]) ? dimAdd(x.shape[i], width[i][1]) : BIG));
      const shape = x.shape.map((d, i) => (cut.includes(i) ? dimAdd(dimAdd(d, neg(width[i][0]) ? width[i][0] : 0), neg(width[i][1]) ? width[i][1] : 0) : d));
      x = cx.slice(x, cut, starts, ends, undefined, shape, x.onnx.map((d, i) => (cut.includes(i) ? shape[i] : d)));
    }
    const pos = (w: Dim) => (neg(w) ? 0 : w);
    const pads = [...width.map(([lo]) => pos(lo)), ...width.map(([, hi]) => pos(hi))];
    if (pads.every((p) => dimEq(p, 0))) return [x];
    const name = cx.op("Pad", [x.name, cx.g.dims(pads)]);
    const onnx = x.onnx.map((d, i) => (padded.includes(i) ? out.shape[i] : d));
    return [{ name, shape: out.shape, onnx, dtype: x.dtype }];
  },

  flip: (cx, [x], { axis }: { axis: number[] }) => {
    const lazy = cx.lazyAxes(x);
    const axes = axis.filter((a) => !lazy.includes(a) && !dimEq(x.onnx[a], 1));
    return [cx.slice(x, axes, axes.map(() => -1), axes.map(() => -BIG), axes.map(() => -1), x.shape, x.onnx)];
  },
};

const neg = (d: Dim) => typeof d === "number" && d < 0;
