import os from "node:os";
import { makeJaxpr, numpy as np, tree, type Array as JArray, type ClosedJaxpr, type JsTreeDef } from "@jax-js/jax";
import * as ort from "onnxruntime-node";
import { withConvForm, type ConvForm } from "../../model/conv.js";
import { GraphBuilder, type DType } from "./graph.js";
import { lowerJaxpr, type LowerOptions } from "./lower.js";
import { Spec } from "./spec.js";

/**
 * Compile a jax-js function to an ONNX Runtime session: trace it with
 * makeJaxpr at the example arguments' shapes, lower the jaxpr (lower.ts),
 * open an InferenceSession (all graph optimisations, intra-op threads =
 * cores, no spinning). Inputs and outputs are the function's flattened argument and
 * result trees, in tree order.
 */

export interface OnnxProgram {
  /** Run once: inputs in the traced function's flattened-argument order; outputs in flattened-result order. */
  run(inputs: readonly ort.Tensor[]): Promise<ort.Tensor[]>;
  readonly inputNames: string[];
  readonly outputNames: string[];
  /** The ONNX ModelProto bytes. */
  readonly model: Uint8Array;
  release(): Promise<void>;
}

/** The shape and dtype of an argument, for tracing without data. */
export interface ArgSpec {
  shape: number[];
  dtype?: DType;
}

export interface CompileOptions extends Pick<LowerOptions, "inputNames" | "outputNames" | "tuning"> {
  /** Intra-op threads (default: the number of cores). */
  threads?: number;
  /**
   * Leave the batch free: axis 0 of EVERY input is the batch (close over
   * weights so they become constants). The function is traced at batch
   * 2, 3 and 5 and every shape that follows the batch becomes symbolic.
   */
  dynamicBatch?: boolean;
  /** Extra ONNX Runtime session options (e.g. optimizedModelFilePath, enableProfiling). */
  sessionOptions?: ort.InferenceSession.SessionOptions;
  /**
   * How models' 3x3 convolutions are traced (src/model/conv.ts): "conv"
   * (default; ONNX Runtime's Conv beats im2col there) or "im2col".
   */
  convForm?: ConvForm;
}

const isSpecLike = (x: unknown): x is ArgSpec =>
  !!x && typeof x === "object" && (x as object).constructor === Object && Array.isArray((x as ArgSpec).shape) && Object.keys(x).every((k) => k === "shape" || k === "dtype");

/** Replace every leaf (jax array or {shape, dtype}) by a Spec; `batch` replaces axis 0. */
function specTree(args: unknown, batch?: number): unknown {
  if (isSpecLike(args) || (args && typeof args === "object" && "aval" in (args as object))) {
    const a = args as { shape: number[]; dtype?: DType };
    const shape = [...a.shape];
    if (batch !== undefined) {
      if (shape.length === 0) throw new Error("compileOnnx: dynamicBatch needs every input to have a batch axis 0, got a scalar");
      shape[0] = batch;
    }
    return new Spec(shape, (a.dtype ?? "float32") as DType);
  }
  if (Array.isArray(args)) return args.map((a) => specTree(a, batch));
  if (args && typeof args === "object" && (args as object).constructor === Object) {
    return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, specTree(v, batch)]));
  }
  throw new Error(`compileOnnx: an example argument must be a jax array or {shape, dtype}, got ${typeof args}`);
}

export const DYNAMIC_TRACE_BATCHES = [2, 3, 5];

/** Trace `fn` at the arguments' shapes (nothing is computed). */
export function traceJaxpr(fn: (...args: any[]) => any, exampleArgs: unknown[], batch?: number): { closed: ClosedJaxpr; inTree: JsTreeDef; outTree: JsTreeDef } {
  const specs = specTree(exampleArgs, batch) as unknown[];
  const [, inTree] = tree.flatten(specs as never);
  const { jaxpr, treedef } = makeJaxpr(fn)(...(specs as never[]));
  return { closed: jaxpr, inTree, outTree: treedef };
}

export async function compileOnnx(
  fn0: (...args: any[]) => any,
  exampleArgs: unknown[],
  opts: CompileOptions = {},
): Promise<{ program: OnnxProgram; inTree: JsTreeDef; outTree: JsTreeDef }> {
  const fn = (...args: unknown[]) => withConvForm(opts.convForm ?? "conv", () => fn0(...args));
  // The session runs here, so the machine's NCHWc layout is safe (udm export turns it off).
  const tuning = { ...opts.tuning, nchwcBlock: opts.tuning?.nchwcBlock ?? (await nchwcBlockSize()) };
  const traces = opts.dynamicBatch ? DYNAMIC_TRACE_BATCHES.map((b) => ({ batch: b, ...traceJaxpr(fn, exampleArgs, b) })) : [{ batch: 0, ...traceJaxpr(fn, exampleArgs) }];
  let lowered;
  try {
    const [first, ...others] = traces;
    lowered = lowerJaxpr(first.closed, {
      inputNames: opts.inputNames,
      outputNames: opts.outputNames,
      tuning,
      dynamicBatch: opts.dynamicBatch ? { batch: first.batch, others: others.map((t) => ({ batch: t.batch, closed: t.closed })) } : undefined,
    });
  } finally {
    for (const t of traces) t.closed.dispose();
  }
  const program = await openSession(lowered.model, lowered.inputNames, lowered.outputNames, opts);
  return { program, inTree: traces[0].inTree, outTree: traces[0].outTree };
}

let probe: Promise<number> | undefined;

/**
 * ONNX Runtime's NCHWc block size on this machine (MLAS: 8 with AVX2, 16
 * with AVX-512), read from how many channels its ReorderInput pads 4
 * channels to; 0 where the NCHWc kernels are missing or unblocked.
 */
export function nchwcBlockSize(): Promise<number> {
  probe ??= (async () => {
    const g = new GraphBuilder();
    g.addInput("x", "float32", [1, 4, 1, 1]);
    g.rename(g.op("com.microsoft.nchwc.ReorderInput", ["x"]), "y");
    g.addOutput("y", "float32", [1, { k: 1, c: 0 }, 1, 1]); // the padded channels: a free dim
    try {
      const p = await openSession(g.model("nchwc probe"), ["x"], ["y"], { threads: 1 });
      const [y] = await p.run([new ort.Tensor("float32", new Float32Array(4), [1, 4, 1, 1])]);
      await p.release();
      const block = y.dims[1];
      return block === 8 || block === 16 ? block : 0;
    } catch {
      return 0;
    }
  })();
  return probe;
}

/** An ONNX Runtime session over a lowered model. */
export async function openSession(
  model: Uint8Array,
  inputNames: string[],
  outputNames: string[],
  opts: Pick<CompileOptions, "threads" | "sessionOptions"> = {},
): Promise<OnnxProgram> {
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: opts.threads ?? os.availableParallelism(),
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    logSeverityLevel: 3,
    // Idle intra-op threads sleep instead of spinning: spinning threads steal
    // the cores from the host work between runs and from each other when the
    // machine is shared (measured: a UNet train step 2-3x slower).
    extra: { session: { intra_op: { allow_spinning: "0" } } },
    ...opts.sessionOptions,
  });
  return {
    inputNames,
    outputNames,
    model,
    async run(inputs) {
      if (inputs.length !== inputNames.length) throw new Error(`onnx program: ${inputs.length} inputs given, it takes ${inputNames.length} (${inputNames.join(", ")})`);
      const feeds: Record<string, ort.Tensor> = {};
      inputNames.forEach((n, i) => (feeds[n] = inputs[i]));
      const res = await session.run(feeds);
      return outputNames.map((n) => res[n]);
    },
    release: () => session.release(),
  };
}

const ortTypes: Record<string, ort.Tensor.Type> = { float32: "float32", int32: "int32", uint32: "uint32", bool: "bool", float64: "float64", float16: "float16" };

/** A jax-js array as an ONNX Runtime tensor (reads it back; consumes it). */
export async function toOrt(x: JArray): Promise<ort.Tensor> {
  const shape = [...x.shape];
  const dtype = x.dtype as string;
  const data = await x.data();
  const type = ortTypes[dtype];
  if (!type) throw new Error(`toOrt: dtype ${dtype} has no ONNX Runtime tensor type`);
  return new ort.Tensor(type, dtype === "bool" ? Uint8Array.from(data as ArrayLike<number>) : (data as Float32Array), shape);
}

/** An ONNX Runtime tensor as a jax-js array. */
export function fromOrt(t: ort.Tensor): JArray {
  const shape = t.dims.map(Number);
  if (t.type === "bool") return np.array(Array.from(t.data as Uint8Array, (v) => v !== 0), { shape });
  const dtype = { float32: np.float32, int32: np.int32, uint32: np.uint32, float64: np.float64 }[t.type as string];
  if (!dtype) throw new Error(`fromOrt: tensor type ${t.type} is not supported`);
  return np.array(t.data as Float32Array, { shape, dtype });
}
