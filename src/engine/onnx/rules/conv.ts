import { dimAdd, dimEq, dimProd, isSym, type Dim } from "../dims.js";
import { BIG } from "../graph.js";
import { unsupported, type Lowering, type Rule, type Value } from "../context.js";

/**
 * jax-js `conv` is lax.conv_general_dilated: lhs [V.., N, C_in, spatial..],
 * rhs [V.., C_out, C_in, kernel..] (V: vmapped axes, e.g. the groups of a
 * grouped conv), cross-correlation with strides, padding (lo, hi; negative
 * crops), lhs dilation (zeros between inputs: what `grad` produces for the
 * input gradient of a strided conv, a transposed conv) and rhs dilation.
 * Lowered to:
 *   lhs dilation 1               -> Conv (a crop first if padding < 0)
 *   lhs dilation d, strides 1    -> ConvTranspose(stride d) of the flipped,
 *                                   channel-swapped kernel, pads (k-1)r - lo
 *   otherwise                    -> the zeros inserted explicitly, then Conv
 * V axes become ONNX groups: [N, V C_in, ..] with group = prod(V).
 * A conv whose kernel is much larger than its output (what `grad` produces
 * for a weight gradient: the "kernel" is the output gradient, the output
 * the 3x3 weight) is a sum of batched MatMuls instead (`largeKernel`).
 * With `tuning.nchwcBlock`, a plain conv whose channels fit ONNX Runtime's
 * NCHWc blocks runs on its blocked kernels instead (`nchwcConv`). A Conv or
 * NCHWc Conv leaves a bias slot (`cx.biasSlots`): lower.ts makes a
 * per-channel add that follows it the node's bias input.
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
    const v = p.vmapDims;
    const n = p.strides.length;
    if (n === 0) unsupported("conv without spatial axes");
    const lhs = cx.materialize(x0);
    const rhs = cx.materialize(w0);
    const V = lhs.shape.slice(0, v);
    if (!V.every((d, i) => dimEq(d, rhs.shape[i]))) unsupported(`conv with vmapped axes [${V}] vs [${rhs.shape.slice(0, v)}]`);
    const G = dimProd(V);
    if (isSym(G)) unsupported("conv with batch-dependent groups");
    const [N, C, ...S] = lhs.shape.slice(v);
    const [Co, , ...K] = rhs.shape.slice(v);
    if (K.some(isSym)) unsupported("conv with a batch-dependent kernel size");
    if (cx.tuning.largeKernelConv !== false && isLargeKernel(lhs, rhs, p, out.shape)) return [largeKernel(cx, lhs, rhs, p, out.shape)];
    const spatial = Array.from({ length: n }, (_, i) => v + 2 + i);
    // lhs -> [N, G C, S..]; rhs -> [G, Co, C, K..] (as it is when not vmapped).
    let x = cx.transpose(lhs, [v, ...Array.from({ length: v }, (_, i) => i), v + 1, ...spatial]);
    x = cx.reshape(x, [N, G * (C as number), ...S]);
    const w = v === 0 ? rhs : cx.reshape(rhs, [G, Co, C, ...K]);
    const kernel = K as number[];
    let y: string;
    const pb = kernel.map((k, i) => (k - 1) * p.rhsDilation[i] - p.padding[i][0]);
    const So = out.shape.slice(v + 2);
    if (p.lhsDilation.some((d) => d > 1) && p.strides.every((s) => s === 1) && pb.every((b) => b >= 0)) {
      y = convTranspose(cx, x, w, G, p, pb, So);
    } else {
      if (p.lhsDilation.some((d) => d > 1)) x = dilate(cx, x, p.lhsDilation);
      y = conv(cx, x, v === 0 ? w : cx.reshape(w, [G * (Co as number), C, ...K]), G, p);
    }
    // [N, G Co, So..] -> [V.., N, Co, So..].
    if (v === 0) return [cx.full(y, out.shape, out.dtype)];
    const split = cx.full(cx.reshapeTensor(y, [N, G * (Co as number), ...So], [N, ...V, Co, ...So]), [N, ...V, Co, ...So], out.dtype);
    return [cx.transpose(split, [...Array.from({ length: v }, (_, i) => i + 1), 0, v + 1, ...spatial])];
  },
};

/** Conv with lhs dilation 1; negative padding crops the input first. */
function conv(cx: Lowering, x0: Value, w: Value, group: number, p: ConvParams): string {
  let x = x0;
  const crop = p.padding.flatMap(([lo, hi], i) => (lo < 0 || hi < 0 ? [i] : []));
  if (crop.length) {
    const shape = x.shape.map((d, a) => (crop.includes(a - 2) ? dimAdd(d, Math.min(0, p.padding[a - 2][0]) + Math.min(0, p.padding[a - 2][1])) : d));
    const starts = crop.map((i) => Math.max(0, -p.padding[i][0]));
    const ends = crop.map((i) => (p.padding[i][1] < 0 ? dimAdd(x.shape[i + 2], p.padding[i][1]) : BIG));
    x = cx.slice(x, crop.map((i) => i + 2), starts, ends, undefined, shape, shape);
  }
  const pads = [...p.padding.map(([lo]) => Math.max(0, lo)), ...p.padding.map(([, hi]) => Math.max(0, hi))];
  const attrs = { strides: p.strides, dilations: p.rhsDilation, pads, group, kernel_shape: w.shape.slice(2) as number[] };
  if (group === 1 && nchwcFits(cx.tuning.nchwcBlock ?? 0, x.shape, w.shape)) return nchwcConv(cx, x, w, cx.tuning.nchwcBlock!, attrs);
  const y = cx.op("Conv", [x.name, w.name], attrs);
  if (!isSym(w.shape[0])) cx.biasSlots.set(y, { node: y, channels: w.shape[0] as number, padded: w.shape[0] as number });
  return y;
}

/**
 * Does a conv of x [N, C, H, W] with w [Co, C, kh, kw] gain from ONNX
 * Runtime's NCHWc kernels at block size `block`? Its input reorder needs C a
 * multiple of 4; channels are zero-padded up to whole blocks, and the conv
 * is taken only when that padding adds at most 35% of the work (measured on
 * batch 64, 7-28 px, 16-48 channels: the blocked kernels ran 1.2-1.9x
 * faster than Conv, which loops over images with an im2col and a Gemm whose
 * N is one image's pixels).
 */
function nchwcFits(block: number, xs: readonly Dim[], ws: readonly Dim[]): boolean {
  if (block <= 1 || xs.length !== 4 || ws.slice(1).some(isSym) || isSym(ws[0])) return false;
  const [C, Co] = [ws[1] as number, ws[0] as number];
  if (C % 4 !== 0 || Co % 4 !== 0) return false;
  return (wholeBlocks(C, block) * wholeBlocks(Co, block)) / (C * Co) <= 1.35;
}

/** c channels rounded up to whole blocks. */
const wholeBlocks = (c: number, block: number) => Math.ceil(c / block) * block;

/**
 * The conv on ONNX Runtime's NCHWc kernels: x reordered to blocks of `block`
 * channels (zero-padded), w zero-padded to whole blocks and laid out as
 * MLAS's OIHWBiBo ([Co/b, C/b, kh, kw, b_in, b_out], reshaped back to
 * [Co, C, kh, kw]), the output reordered back to NCHW with its Co channels.
 */
function nchwcConv(cx: Lowering, x: Value, w: Value, block: number, attrs: Record<string, number[] | number>): string {
  const [Co, C, kh, kw] = w.shape as number[];
  const [Cp, Cop] = [wholeBlocks(C, block), wholeBlocks(Co, block)];
  const oihwbibo = cx.op("Reshape", [blockedKernel(cx, kernelSource(cx, w.name, [Co, C, kh, kw]), block, Cp, Cop), cx.g.ints([Cop, Cp, kh, kw])]);
  const xb = cx.op("com.microsoft.nchwc.ReorderInput", [x.name]);
  const yb = cx.op("com.microsoft.nchwc.Conv", [xb, oihwbibo], attrs);
  const y = cx.op("com.microsoft.nchwc.ReorderOutput", [yb], { channels: Co });
  cx.biasSlots.set(y, { node: yb, channels: Co, padded: Cop });
  return y;
}

/**
 * A conv kernel w [Co, C, kh, kw] as the tensor it was transposed and
 * flipped from: `axes[j]` is the source axis of w's axis j, `flips` the
 * source axes read backwards. A model's kernel comes from its weights by a
 * transpose (and, for an input gradient, a flip and another transpose);
 * laying the blocks out from the weights themselves takes one transpose
 * whose innermost axis is contiguous there, where each transpose in turn
 * moved 3x3 patches (2% of a 1 M UNet train step).
 */
interface KernelSource {
  name: string;
  dims: number[];
  axes: number[];
  flips: Set<number>;
}

function kernelSource(cx: Lowering, name0: string, dims0: number[]): KernelSource {
  let src: KernelSource = { name: name0, dims: dims0, axes: [0, 1, 2, 3], flips: new Set() };
  for (;;) {
    const node = cx.g.producer(src.name);
    if (node?.op === "Transpose" && node.ints.perm?.length === src.dims.length) {
      // out axis a is input axis perm[a].
      const perm = node.ints.perm;
      const dims: number[] = [];
      perm.forEach((p, a) => (dims[p] = src.dims[a]));
      src = { name: node.inputs[0], dims, axes: src.axes.map((a) => perm[a]), flips: new Set([...src.flips].map((a) => perm[a])) };
      continue;
    }
    const flipped = node?.op === "Slice" ? fullFlip(cx, node.inputs, src.dims) : undefined;
    if (flipped) {
      const flips = new Set(src.flips);
      for (const a of flipped) flips.has(a) ? flips.delete(a) : flips.add(a);
      src = { ...src, name: node!.inputs[0], flips };
      continue;
    }
    return src;
  }
}

/** The axes a Slice node reverses whole (steps -1 from the end to the start), or undefined. */
function fullFlip(cx: Lowering, [, starts, ends, axes, steps]: readonly string[], dims: number[]): number[] | undefined {
  const [st, en, ax, sp] = [starts, ends, axes, steps].map((n) => (n ? cx.g.intsOf(n) : undefined));
  if (!st || !en || !ax || !sp) return undefined;
  const whole = ax.every((a, k) => sp[k] === -1 && (st[k] === -1 || st[k] >= dims[a] - 1) && en[k] <= -dims[a] - 1);
  return whole ? [...ax] : undefined;
}

/**
 * MLAS's OIHWBiBo layout [Co/b, C/b, kh, kw, b_in, b_out] of the kernel
 * `src` traces to, its channels zero-padded to Cp and Cop.
 */
function blockedKernel(cx: Lowering, src: KernelSource, block: number, Cp: number, Cop: number): string {
  const [o, i, h, k] = src.axes;
  const rank = src.dims.length;
  let t = src.name;
  if (src.flips.size) {
    const f = [...src.flips];
    t = cx.op("Slice", [t, cx.g.ints(f.map(() => -1)), cx.g.ints(f.map(() => -BIG)), cx.g.ints(f), cx.g.ints(f.map(() => -1))]);
  }
  const pads = new Array<number>(2 * rank).fill(0);
  pads[rank + o] = Cop - src.dims[o];
  pads[rank + i] = Cp - src.dims[i];
  if (pads.some((p) => p > 0)) t = cx.op("Pad", [t, cx.g.ints(pads)]);
  // Split the two channel axes into (blocks, block) in place, then one transpose.
  const split: number[] = [];
  const at: Record<string, number> = {};
  src.dims.forEach((d, a) => {
    if (a === o || a === i) {
      at[`${a}blk`] = split.length;
      split.push((a === o ? Cop : Cp) / block);
      at[`${a}b`] = split.length;
      split.push(block);
    } else {
      at[a] = split.length;
      split.push(d);
    }
  });
  const blocks = cx.op("Reshape", [t, cx.g.ints(split)]);
  return cx.op("Transpose", [blocks], { perm: [at[`${o}blk`], at[`${i}blk`], at[h], at[k], at[`${i}b`], at[`${o}b`]] });
}

/**
 * The transposed convolution equal to a conv with lhs dilation d and strides
 * 1: its kernel W'[g ci, co, k] = W[g, co, ci, K - 1 - k] (w is [Co, C, K..],
 * or [G, Co, C, K..] when vmapped).
 */
function convTranspose(cx: Lowering, x: Value, w: Value, G: number, p: ConvParams, pb: number[], So: readonly Dim[]): string {
  const grouped = w.shape.length === x.shape.length + 1;
  const [Co, C, ...K] = w.shape.slice(grouped ? 1 : 0);
  const kernel = K as number[];
  const spatial = kernel.map((_, i) => i + 2);
  const swapped = grouped
    ? cx.reshape(cx.transpose(w, [0, 2, 1, ...spatial.map((a) => a + 1)]), [G * (C as number), Co, ...K])
    : cx.transpose(w, [1, 0, ...spatial]);
  const flipped = cx.slice(swapped, spatial, spatial.map(() => -1), spatial.map(() => -BIG), spatial.map(() => -1), swapped.shape, swapped.onnx);
  if (x.shape.slice(2).some(isSym) || So.some(isSym)) unsupported("transposed conv with a batch-dependent spatial size");
  // The full output is d (in - 1) + (k - 1) r + 1, cut by pb and pe; a
  // negative pe (an output longer than that) is zero padding after.
  const pe = kernel.map((k, i) => p.lhsDilation[i] * ((x.shape[i + 2] as number) - 1) + (k - 1) * p.rhsDilation[i] + 1 - pb[i] - (So[i] as number));
  const y = cx.op("ConvTranspose", [x.name, flipped.name], {
    strides: p.lhsDilation,
    dilations: p.rhsDilation,
    pads: [...pb, ...pe.map((e) => Math.max(0, e))],
    group: G,
    kernel_shape: kernel,
  });
  const extra = pe.map((e) => Math.max(0, -e));
  if (extra.every((e) => e === 0)) return y;
  return cx.op("Pad", [y, cx.g.ints([0, 0, ...extra.map(() => 0), 0, 0, ...extra])]);
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
    const withD = [...x.shape.slice(0, a + 1), d, ...x.shape.slice(a + 1)];
    const pads = new Array(2 * (rank + 1)).fill(0);
    pads[rank + 1 + a + 1] = d - 1;
    const padded = cx.op("Pad", [cx.op("Unsqueeze", [x.name, cx.g.ints([a + 1])]), cx.g.ints(pads)]);
    const merged = x.shape.map((s, j) => (j === a ? len * d : s));
    const flat = cx.full(cx.reshapeTensor(padded, withD, merged), merged, x.dtype);
    const shape = x.shape.map((s, j) => (j === a ? (len - 1) * d + 1 : s));
    x = cx.slice(flat, [a], [0], [(len - 1) * d + 1], undefined, shape, shape);
  });
  return x;
}

/**
 * Is this a plain conv (no vmap, strides, dilations) of fixed shapes whose
 * kernel is at least twice its output on every spatial axis?
 */
function isLargeKernel(lhs: Value, rhs: Value, p: ConvParams, outShape: readonly Dim[]): boolean {
  const all = [...lhs.shape, ...rhs.shape, ...outShape];
  if (p.vmapDims !== 0 || all.some(isSym) || p.padding.some(([lo, hi]) => lo < 0 || hi < 0)) return false;
  if (![...p.strides, ...p.lhsDilation, ...p.rhsDilation].every((d) => d === 1)) return false;
  const K = rhs.shape.slice(2) as number[];
  const So = outShape.slice(2) as number[];
  return So.length === 2 && K.every((k, i) => k >= 2 * So[i]);
}

/**
 * out[n, o, i, j] = sum_{c, h, w} lhs_pad[n, c, i + h, j + w] rhs[o, c, h, w]
 * with a large kernel and a small output (typically 3x3): one Gemm per
 * output offset (i, j), contracting the channels c and the kernel (h, w)
 * together ([n, c h w] x [o, c h w]^T). For grad's weight gradient, c is the
 * batch: one long contraction, no per-example partial products to concat and
 * sum (the batched-MatMul form did that: 12% of a 1 M UNet train step). The
 * operand with fewer rows (n or o) is the one shifted (sliced) per offset,
 * so the copies are of the smaller side. ONNX Runtime's Conv ran such shapes
 * as matrix-vector products over an im2col buffer 9x the larger operand.
 */
function largeKernel(cx: Lowering, lhs0: Value, rhs0: Value, p: ConvParams, outShape: readonly Dim[]): Value {
  const [N, C, ...S] = lhs0.shape as number[];
  const [O, , ...K] = rhs0.shape as number[];
  const So = outShape.slice(2) as number[];
  const lo = p.padding.map(([l]) => l);
  // On small images or operands the pixels go before c ([n, h, w, c]): a
  // shifted window then copies rows of w c floats rather than of w (weight
  // gradients at 7x7 and 14x14 1.2-1.9x faster, 8 -> 8 channels at 28x28
  // 1.1x); on large ones (28 -> 28 channels at 28x28, batch 64) that
  // transpose costs more than it saves.
  const pixelsFirst = S[0] * S[1] <= PIXELS_FIRST_MAX || Math.max(N, O) * C * S[0] * S[1] <= SMALL_OPERAND;
  const layout = (v: Value) => (pixelsFirst ? cx.transpose(v, [0, 2, 3, 1]) : v);
  const [lhs, rhs] = [layout(lhs0), layout(rhs0)];
  const spatial = pixelsFirst ? [1, 2] : [2, 3];
  const padsOf = (a: number[], b: number[]) => (pixelsFirst ? [0, a[0], a[1], 0, 0, b[0], b[1], 0] : [0, 0, a[0], a[1], 0, 0, b[0], b[1]]);
  const rows = (v: string, n: number, inner: number[]) => cx.reshapeTensor(v, pixelsFirst ? [n, ...inner, C] : [n, C, ...inner], [n, C * inner[0] * inner[1]]);
  const window = (v: string, st: number[], size: number[]) => cx.op("Slice", [v, cx.g.ints(st), cx.g.ints([st[0] + size[0], st[1] + size[1]]), cx.g.ints(spatial)]);
  const shiftLhs = N <= O;
  // The [N, K] and [O, K] operands of output offset (i, j).
  let operands: (i: number, j: number) => [string, string];
  if (shiftLhs) {
    // lhs_pad[n, c, i + h, j + w] over (h, w) in K, against rhs as it is.
    const padded = cx.op("Pad", [lhs.name, cx.g.ints(padsOf(lo, [p.padding[0][1], p.padding[1][1]]))]);
    const fixed = rows(rhs.name, O, K);
    operands = (i, j) => [rows(window(padded, [i, j], K), N, K), fixed];
  } else {
    // rhs[o, c, u + lo - i, v + lo - j] over (u, v) in S (zero outside K), against lhs as it is.
    const A = [0, 1].map((d) => Math.max(So[d] - 1 - lo[d], S[d] + lo[d] - K[d], 0));
    const padded = cx.op("Pad", [rhs.name, cx.g.ints(padsOf(A, A))]);
    const fixed = rows(lhs.name, N, S);
    operands = (i, j) => [fixed, rows(window(padded, [A[0] + lo[0] - i, A[1] + lo[1] - j], S), O, S)];
  }
  // MLAS runs a Gemm's columns in vectors of 16: with fewer than that on the
  // O side and more rows on the N side, the Gemm is [O, N] and transposed
  // after (out-conv 8 -> 1: 0.24 -> 0.05 ms per offset; 24 -> 8: 0.56 -> 0.46).
  const swap = O < 16 && N > O;
  const terms: string[] = [];
  for (let i = 0; i < So[0]; i++)
    for (let j = 0; j < So[1]; j++) {
      const [a, b] = operands(i, j);
      terms.push(cx.op("Gemm", swap ? [b, a] : [a, b], { transB: 1 }));
    }
  // Offsets outermost ([So0, So1, N, O], whole Gemm outputs concatenated),
  // then one transpose, which ONNX Runtime merges with the transpose that
  // takes a weight gradient to the weights' [3, 3, C_in, C_out] layout.
  const [r, c] = swap ? [O, N] : [N, O];
  const y = cx.op("Reshape", [cx.op("Concat", terms, { axis: 0 }), cx.g.ints([So[0], So[1], r, c])]);
  return cx.full(cx.op("Transpose", [y], { perm: swap ? [3, 2, 0, 1] : [2, 3, 0, 1] }), outShape, lhs.dtype);
}

/** largeKernel's pixels-first layout: images of at most this many pixels, or operands of at most this many floats (2 MiB). */
const PIXELS_FIRST_MAX = 196;
const SMALL_OPERAND = 1 << 19;
