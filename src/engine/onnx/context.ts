import { dimEq, isSym, shapeEq, type Dim } from "./dims.js";
import { elemType, GraphBuilder, type Attr, type DType } from "./graph.js";

/**
 * What the per-primitive lowering rules share.
 *
 * A jax-js value becomes an ONNX tensor `name` of ONNX shape `shape`, which
 * has the value's rank and is either its jax-js shape or that shape with 1
 * on axes the value is constant along ("lazy broadcast"): a jax-js
 * `broadcast` only inserts size-1 axes, elementwise ONNX ops broadcast
 * natively, `dot` treats those axes as absent, and only the ops that need
 * the full array (concatenate, reshape, pad, conv, the graph outputs) expand
 * it. So a broadcast feeding a matmul is never materialised.
 */
export interface Value {
  readonly name: string;
  /** The jax-js shape. */
  readonly shape: readonly Dim[];
  /** The ONNX tensor's shape: `shape`, or 1 on lazily broadcast axes. */
  readonly onnx: readonly Dim[];
  readonly dtype: DType;
}

/** A jax-js output of an equation: its shape (maybe batch-dependent) and dtype. */
export interface Out {
  readonly shape: readonly Dim[];
  readonly dtype: DType;
}

/**
 * Lower one equation: `ins` are its inputs (Values), `params` its parameters
 * (numbers that depend on the batch are Dims), `outs` its outputs' jax-js
 * shapes. Returns one Value per output.
 */
export type Rule = (cx: Lowering, ins: Value[], params: any, outs: Out[]) => Value[];

/** Speed-ups of the lowering that can be turned off (to measure them: bench/onnx-lowering.ts). */
export interface Tuning {
  /** Expand a small broadcast operand of a large binary op over its innermost axes (default true). */
  widenBroadcasts?: boolean;
  /** Lower jax-js's tanh (and its gradient pieces) as ONNX Tanh (default true). */
  fuseLibrary?: boolean;
  /** Materialise short-span repeats (e.g. nearest upsampling) with Resize instead of Expand (default true). */
  resizeRepeats?: boolean;
  /** Lower a conv with a large kernel and a small output (a weight gradient) as batched MatMuls (default true). */
  largeKernelConv?: boolean;
  /**
   * ONNX Runtime's NCHWc block size on the machine that runs the model (8 on
   * AVX2, 16 on AVX-512; see `nchwcBlockSize`), or 0: off (the default).
   * With it, a plain conv whose channels fit the blocks runs on ONNX
   * Runtime's blocked direct-conv kernels (com.microsoft.nchwc.Conv) instead
   * of Conv's per-image im2col + Gemm. The weights' blocked layout depends on
   * the machine, so a portable file (udm export) must leave this off.
   */
  nchwcBlock?: number;
}

/** A Conv (or NCHWc Conv) output that has no bias yet: its node's output, channels, and the padded channel count. */
export interface BiasSlot {
  node: string;
  channels: number;
  padded: number;
}

export class Lowering {
  /** Conv outputs, by ONNX name, whose node can still take a bias (conv.ts; folded by lower.ts). */
  readonly biasSlots = new Map<string, BiasSlot>();
  /** Outputs of reshapeTensor: the tensor and shape they were reshaped from. */
  private readonly reshaped = new Map<string, { src: string; dims: readonly Dim[] }>();

  constructor(
    readonly g: GraphBuilder,
    readonly tuning: Tuning = {},
  ) {}

  op(op: string, inputs: string[], attrs?: Record<string, Attr>): string {
    return this.g.op(op, inputs, attrs);
  }

  /** Axes on which `v` is lazily broadcast. */
  lazyAxes(v: Value): number[] {
    return v.shape.flatMap((d, i) => (dimEq(v.onnx[i], 1) && !dimEq(d, 1) ? [i] : []));
  }

  /**
   * `v` expanded to its full jax-js shape (on `axes` only, default all): the
   * one place a lazy broadcast is materialised (Expand).
   */
  materialize(v: Value, axes?: readonly number[]): Value {
    const lazy = this.lazyAxes(v).filter((a) => !axes || axes.includes(a));
    if (lazy.length === 0) return v;
    if (lazy.length === this.lazyAxes(v).length && this.tuning.resizeRepeats !== false) {
      const repeated = this.repeatByResize(v, lazy);
      if (repeated) return repeated;
    }
    const target = v.shape.map((d, i) => (lazy.includes(i) ? d : 1));
    const onnx = v.onnx.map((d, i) => (lazy.includes(i) ? v.shape[i] : d));
    return { name: this.op("Expand", [v.name, this.g.dims(target)]), shape: v.shape, onnx, dtype: v.dtype };
  }

  /**
   * Expand copies in spans of the axes after the last broadcast one: a
   * nearest-neighbour upsampling [B, C, H, 1, W, 1] -> [B, C, H, 2, W, 2]
   * (or the gradient of a 2x2 mean) goes element by element, ~30x slower
   * than a pass. When every broadcast axis follows a full one and the span
   * is short, the copy is ONNX Resize (nearest) of the tensor without the
   * broadcast axes, each full axis before one scaled by its length.
   */
  private repeatByResize(v: Value, lazy: number[]): Value | undefined {
    const shape = v.shape;
    if (!isStaticShape(shape) || !isStaticShape(v.onnx)) return undefined;
    const last = lazy[lazy.length - 1];
    const span = shape.slice(last + 1).reduce((a, b) => a * b, 1);
    const size = shape.reduce((a, b) => a * b, 1);
    if (span >= 16 || size < 1 << 14 || lazy.some((a) => a === 0 || lazy.includes(a - 1) || dimEq(v.onnx[a - 1], 1))) return undefined;
    const kept = shape.flatMap((d, a) => (lazy.includes(a) ? [] : [a]));
    const scales = kept.map((a) => (lazy.includes(a + 1) ? shape[a + 1] : 1));
    const small = this.reshapeTensor(v.name, v.onnx, kept.map((a) => v.onnx[a]));
    const resized = this.op("Resize", [small, "", this.g.constant("float32", [scales.length], Float32Array.from(scales))], {
      mode: "nearest",
      coordinate_transformation_mode: "asymmetric",
      nearest_mode: "floor",
    });
    const out = kept.map((a, i) => (v.onnx[a] as number) * scales[i]);
    return this.full(this.reshapeTensor(resized, out, shape), shape, v.dtype);
  }

  /** A value whose ONNX tensor has its full shape. */
  full(name: string, shape: readonly Dim[], dtype: DType): Value {
    return { name, shape, onnx: shape, dtype };
  }

  transpose(v: Value, perm: readonly number[]): Value {
    if (perm.every((p, i) => p === i)) return v;
    const name = this.permute(v.name, v.onnx, perm);
    return { name, shape: perm.map((p) => v.shape[p]), onnx: perm.map((p) => v.onnx[p]), dtype: v.dtype };
  }

  /**
   * Transpose the ONNX tensor `name` of shape `dims` by `perm`; when only
   * size-1 axes move (the others keep their order) that is a reshape, which
   * ONNX Runtime does without copying (its Transpose copies whatever the perm:
   * 10% of a Transformer train step went to such no-op transposes).
   */
  permute(name: string, dims: readonly Dim[], perm: readonly number[]): string {
    if (perm.every((p, i) => p === i)) return name;
    const moved = perm.filter((p) => !dimEq(dims[p], 1));
    const out = perm.map((p) => dims[p]);
    if (moved.every((p, i) => i === 0 || p > moved[i - 1])) return this.reshapeTensor(name, dims, out);
    // Transpose the other axes alone, between a squeeze and an unsqueeze:
    // ONNX Runtime fuses a Transpose that feeds a MatMul directly into it.
    const rank = (a: number) => moved.filter((q) => q < a).length;
    const core = moved.map((p) => dims[p]);
    const squeezed = this.reshapeTensor(name, dims, dims.filter((d) => !dimEq(d, 1)));
    return this.reshapeTensor(this.op("Transpose", [squeezed], { perm: moved.map(rank) }), core, out);
  }

  /** Reshape a materialised value. */
  reshape(v: Value, shape: readonly Dim[]): Value {
    if (this.lazyAxes(v).length) throw new Error(`onnx lowering: internal: reshape of a lazily broadcast value`);
    return this.full(this.reshapeTensor(v.name, v.onnx, shape), shape, v.dtype);
  }

  /**
   * Reshape an ONNX tensor of shape `from` to `to`: nothing when equal,
   * Squeeze/Unsqueeze when only size-1 axes come or go (ONNX Runtime's
   * transpose optimizer sees through those, not through Reshape), else Reshape.
   */
  reshapeTensor(name0: string, from0: readonly Dim[], to: readonly Dim[]): string {
    // A reshape of a reshape is one reshape of the original (an Unsqueeze
    // then a Squeeze is nothing): ONNX Runtime then sees a Transpose feeding
    // a MatMul directly and fuses them.
    const origin = this.reshaped.get(name0);
    const [name, from] = origin ? [origin.src, origin.dims] : [name0, from0];
    if (shapeEq(from, to)) return name;
    const out = this.reshapeNode(name, from, to);
    this.reshaped.set(out, { src: name, dims: from });
    return out;
  }

  private reshapeNode(name: string, from: readonly Dim[], to: readonly Dim[]): string {
    const squeezed = from.filter((d) => !dimEq(d, 1));
    if (shapeEq(squeezed, to.filter((d) => !dimEq(d, 1)))) {
      const drop = from.flatMap((d, i) => (dimEq(d, 1) ? [i] : []));
      const add = to.flatMap((d, i) => (dimEq(d, 1) ? [i] : []));
      if (drop.length) name = this.op("Squeeze", [name, this.g.ints(drop)]);
      if (add.length) name = this.op("Unsqueeze", [name, this.g.ints(add)]);
      return name;
    }
    return this.op("Reshape", [name, this.g.reshapeTarget(to)]);
  }

  cast(v: Value, dtype: DType): Value {
    if (v.dtype === dtype) return v;
    return { ...v, name: this.op("Cast", [v.name], { to: elemType(dtype) }), dtype };
  }

  /** Slice the ONNX tensor of `v` on `axes`; the caller gives the resulting value's shapes. */
  slice(v: Value, axes: number[], starts: Dim[], ends: Dim[], steps: number[] | undefined, shape: readonly Dim[], onnx: readonly Dim[]): Value {
    if (axes.length === 0) return v;
    const inputs = [v.name, this.g.dims(starts), this.g.dims(ends), this.g.ints(axes)];
    if (steps) inputs.push(this.g.ints(steps));
    return { name: this.op("Slice", inputs), shape, onnx, dtype: v.dtype };
  }
}

/** The error for a construct the lowering cannot express. */
export function unsupported(what: string): never {
  throw new Error(`onnx lowering: ${what} is not supported`);
}

export const isStaticShape = (s: readonly Dim[]): s is number[] => !s.some(isSym);
