import { dimAdd, isSym, type Dim } from "../dims.js";
import { BIG } from "../graph.js";
import { unsupported, type Lowering, type Rule, type Value } from "../context.js";

/**
 * jax-js `conv` is lax.conv_general_dilated: lhs [N, C_in, spatial..],
 * rhs [C_out, C_in, kernel..], cross-correlation with strides, padding
 * (lo, hi; negative crops), lhs dilation (zeros between inputs: what `grad`
 * produces for the input gradient of a strided conv, a transposed conv) and
 * rhs dilation. Lowered to:
 *   lhs dilation 1               -> Conv (a crop first if padding < 0)
 *   lhs dilation d, strides 1    -> ConvTranspose(stride d) of the flipped,
 *                                   channel-swapped kernel, pads (k-1)r - lo
 *   otherwise                    -> the zeros inserted explicitly, then Conv
 */

interface ConvParams {
  vmapDims: number;
  strides: number[];
  padding: [number, number][];
  lhsDilation: number[];
  rhsDilation: number[];
}

export const convRules: Record<string, Rule> = {
  conv: (cx, [x0, w0], p: ConvParams, [out]) => {
    if (p.vmapDims !== 0) unsupported(`conv with vmapDims = ${p.vmapDims} (a vmapped convolution)`);
    let x = cx.materialize(x0);
    const w = cx.materialize(w0);
    if (p.strides.length === 0) unsupported("conv without spatial axes");
    const kernel = w.shape.slice(2) as number[];
    if (kernel.some((k) => isSym(k))) unsupported("conv with a batch-dependent kernel size");
    if (p.lhsDilation.some((d) => d > 1)) {
      const pb = kernel.map((k, i) => (k - 1) * p.rhsDilation[i] - p.padding[i][0]);
      if (p.strides.every((s) => s === 1) && pb.every((b) => b >= 0)) return [convTranspose(cx, x, w, p, pb, out.shape)];
      x = dilate(cx, x, p.lhsDilation);
    }
    return [conv(cx, x, w, p, out.shape)];
  },
};

/** Conv with lhs dilation 1; negative padding crops the input first. */
function conv(cx: Lowering, x0: Value, w: Value, p: ConvParams, outShape: readonly Dim[]): Value {
  let x = x0;
  const crop = p.padding.flatMap(([lo, hi], i) => (lo < 0 || hi < 0 ? [i] : []));
  if (crop.length) {
    const shape = x.shape.map((d, a) => {
      const i = a - 2;
      return crop.includes(i) ? dimAdd(d, Math.min(0, p.padding[i][0]) + Math.min(0, p.padding[i][1])) : d;
    });
    const starts = crop.map((i) => Math.max(0, -p.padding[i][0]));
    const ends = crop.map((i) => (p.padding[i][1] < 0 ? dimAdd(x.shape[i + 2], p.padding[i][1]) : BIG));
    x = cx.slice(x, crop.map((i) => i + 2), starts, ends, undefined, shape, shape);
  }
  const pads = [...p.padding.map(([lo]) => Math.max(0, lo)), ...p.padding.map(([, hi]) => Math.max(0, hi))];
  const name = cx.op("Conv", [x.name, w.name], { strides: p.strides, dilations: p.rhsDilation, pads, kernel_shape: w.shape.slice(2) as number[] });
  return cx.full(name, outShape, x.dtype);
}

/** The transposed convolution that equals a conv with lhs dilation d and strides 1. */
function convTranspose(cx: Lowering, x: Value, w: Value, p: ConvParams, pb: number[], outShape: readonly Dim[]): Value {
  const n = p.strides.length;
  // W'[ci, co, k] = W[co, ci, K - 1 - k].
  const spatial = Array.from({ length: n }, (_, i) => i + 2);
  const swapped = cx.transpose(w, [1, 0, ...spatial]);
  const flipped = cx.slice(swapped, spatial, spatial.map(() => -1), spatial.map(() => -BIG), spatial.map(() => -1), swapped.shape, swapped.onnx);
  const kernel = w.shape.slice(2) as number[];
  // ConvTranspose's full output is d (in - 1) + (k - 1) r + 1, cut by pb and pe;
  // a negative pe (output longer than that) is zero padding after.
  const pe = kernel.map((k, i) => {
    const full = p.lhsDilation[i] * ((x.shape[i + 2] as number) - 1) + (k - 1) * p.rhsDilation[i] + 1;
    return full - pb[i] - (outShape[i + 2] as number);
  });
  if (spatial.some((a) => isSym(x.shape[a]) || isSym(outShape[a]))) unsupported("transposed conv with a batch-dependent spatial size");
  const name = cx.op("ConvTranspose", [x.name, flipped.name], {
    strides: p.lhsDilation,
    dilations: p.rhsDilation,
    pads: [...pb, ...pe.map((e) => Math.max(0, e))],
    kernel_shape: kernel,
  });
  const extra = pe.map((e) => Math.max(0, -e));
  if (extra.every((e) => e === 0)) return cx.full(name, outShape, x.dtype);
  const pads = [0, 0, ...extra.map(() => 0), 0, 0, ...extra];
  return cx.full(cx.op("Pad", [name, cx.g.ints(pads)]), outShape, x.dtype);
}

/** Insert d - 1 zeros between neighbours on each spatial axis (lhs dilation). */
function dilate(cx: Lowering, x0: Value, dilation: number[]): Value {
  let x = x0;
  dilation.forEach((d, i) => {
    if (d === 1) return;
    const a = i + 2;
    const len = x.shape[a];
    if (isSym(len)) unsupported("lhs dilation of a batch-dependent axis");
    const rank = x.shape.length;
    // [.., L, ..] -> [.., L, 1, ..] -> pad to [.., L, d, ..] -> [.., L d, ..] -> first (L - 1) d + 1.
    const withUnit = [...x.shape.slice(0, a + 1), 1, ...x.shape.slice(a + 1)];
    let name = cx.op("Unsqueeze", [x.name, cx.g.ints([a + 1])]);
    const pads = new Array(2 * (rank + 1)).fill(0);
    pads[rank + 1 + a + 1] = d - 1;
    name = cx.op("Pad", [name, cx.g.ints(pads)]);
    const merged = x.shape.map((s, j) => (j === a ? len * d : s));
    name = cx.reshapeTensor(name, withUnit.map((s, j) => (j === a + 1 ? d : s)), merged);
    const shape = x.shape.map((s, j) => (j === a ? (len - 1) * d + 1 : s));
    x = cx.slice(cx.full(name, merged, x.dtype), [a], [0], [(len - 1) * d + 1], undefined, shape, shape);
  });
  return x;
}
