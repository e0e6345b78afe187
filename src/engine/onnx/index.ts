/**
 * The jaxpr -> ONNX lowering and its ONNX Runtime sessions.
 *
 * API (what the engine seam uses):
 *
 *   lowerJaxpr(closed: ClosedJaxpr, opts?: {
 *       inputNames?: string[]; outputNames?: string[];
 *       dynamicBatch?: { batch: number; others: { batch: number; closed: ClosedJaxpr }[] } })
 *     : { model: Uint8Array; inputNames: string[]; outputNames: string[] }
 *   The ModelProto of a traced program (makeJaxpr(f)(...args).jaxpr): graph
 *   inputs = the flattened arguments, outputs = the flattened results, the
 *   program's constants = initializers. dynamicBatch: the same function
 *   traced at >= 2 other batch sizes; shapes that follow the batch become
 *   symbolic ("batch" in the graph's input/output shapes).
 *
 *   compileOnnx(fn, exampleArgs: unknown[], opts?: { threads?: number;
 *       dynamicBatch?: boolean; inputNames?: string[]; outputNames?: string[];
 *       sessionOptions?: ort.InferenceSession.SessionOptions; convForm?: "conv" | "im2col" })
 *     : Promise<{ program: OnnxProgram; inTree: JsTreeDef; outTree: JsTreeDef }>
 *   exampleArgs: the argument list of fn, as trees whose leaves are jax
 *   arrays or {shape, dtype} specs (nothing is computed). With
 *   dynamicBatch, axis 0 of every input is the batch (close over weights).
 *   fn is traced with models' 3x3 convs as lax.conv (convForm, default
 *   "conv": faster under ONNX Runtime; jax-js jit keeps im2col).
 *
 *   interface OnnxProgram {
 *     run(inputs: ort.Tensor[]): Promise<ort.Tensor[]>;  // flattened args -> flattened results
 *     readonly inputNames: string[]; readonly outputNames: string[];
 *     readonly model: Uint8Array; release(): Promise<void>;
 *   }
 *   openSession(model, inputNames, outputNames, opts?): OnnxProgram over given bytes.
 *   toOrt(x: jax Array): Promise<ort.Tensor> (consumes x); fromOrt(t): jax Array.
 *
 * Outputs of one run can be fed as inputs of the next (train steps): the
 * traced program's result shapes and dtypes are those of its arguments.
 */
export { lowerJaxpr, lowerProgram, rules, type LowerOptions, type LoweredModel } from "./lower.js";
export { compileOnnx, nchwcBlockSize, openSession, toOrt, fromOrt, traceJaxpr, type OnnxProgram, type ArgSpec, type CompileOptions } from "./session.js";
export { opCounts } from "./inspect.js";
export type { Tuning } from "./context.js";
