import type { ClosedJaxpr, Jaxpr } from "@jax-js/jax";
import { dimEq, isSym, shapeEq, type Dim } from "./dims.js";
import { GraphBuilder, type DType } from "./graph.js";
import { Lowering, type BiasSlot, type Rule, type Tuning, type Value } from "./context.js";
import { fuseJit, usesOf, type Saved, type Uses } from "./fuse.js";
import { batchProgram, isLit, staticProgram, subJaxpr, type Program } from "./program.js";
import { convRules } from "./rules/conv.js";
import { dotRules } from "./rules/dot.js";
import { elementwiseRules } from "./rules/elementwise.js";
import { gatherRules } from "./rules/gather.js";
import { movementRules } from "./rules/movement.js";
import { reduceRules } from "./rules/reduce.js";

/**
 * jaxpr -> ONNX. Walks the equations of a traced jax-js program once, in
 * order, and emits ONNX nodes for each through the primitive's rule (rules/).
 * Constants become initializers, literals scalar constants, the program's
 * arguments graph inputs and its results graph outputs; a nested jit
 * equation is inlined, or fused when it is a known library function
 * (fuse.ts). A primitive without a rule is an error naming it and the
 * equation.
 */

export const rules: Record<string, Rule> = {
  ...elementwiseRules,
  ...reduceRules,
  ...dotRules,
  ...movementRules,
  ...gatherRules,
  ...convRules,
};

export interface LowerOptions {
  /** Speed-ups to turn off (for measuring them). */
  tuning?: Tuning;
  /** Names of the graph inputs, one per flattened argument (default input_0, ...). */
  inputNames?: string[];
  /** Names of the graph outputs, one per flattened result (default output_0, ...). */
  outputNames?: string[];
  /**
   * Leave the batch free: the same program traced at other batch sizes
   * (2 or more besides `closed`, whose batch is `batch`). Every dimension
   * and shape parameter that changes between the traces becomes
   * k * batch + c; graph inputs get the dimension name "batch".
   */
  dynamicBatch?: { batch: number; others: { batch: number; closed: ClosedJaxpr }[] };
}

export interface LoweredModel {
  /** The serialised ONNX ModelProto. */
  model: Uint8Array;
  inputNames: string[];
  outputNames: string[];
}

/** Lower a ClosedJaxpr (from makeJaxpr) to an ONNX model. */
export function lowerJaxpr(closed: ClosedJaxpr, opts: LowerOptions = {}): LoweredModel {
  const program = opts.dynamicBatch
    ? batchProgram([{ batch: opts.dynamicBatch.batch, closed }, ...opts.dynamicBatch.others])
    : staticProgram(closed);
  return lowerProgram(program, opts);
}

type Var = Jaxpr["inBinders"][number];
type Atom = Jaxpr["outs"][number];
type Eqn = Jaxpr["eqns"][number];

/**
 * conv(x, w) + b, with b [C] broadcast along the channel axis of a conv
 * output used nowhere else, as the conv's own bias input: ONNX Runtime then
 * adds it while writing the output instead of in a pass of its own (its
 * graph optimiser only folds a constant bias). Undefined: not that pattern.
 */
function foldBias(cx: Lowering, eqn: Eqn, ins: Value[], outShape: readonly Dim[], uses: Uses, convs: Map<Var, BiasSlot>): Value[] | undefined {
  for (const k of [0, 1]) {
    const conv = ins[k];
    const slot = convs.get(eqn.inputs[k] as Var);
    const bias = ins[1 - k];
    if (!slot || uses.get(eqn.inputs[k] as Var)?.length !== 1 || bias.dtype !== "float32" || conv.dtype !== "float32") continue;
    // The bias is [C, 1, ..] or [1, C, 1, ..] in ONNX (right-aligned, as add broadcasts): one value per channel.
    const aligned = [...new Array<Dim>(Math.max(0, conv.shape.length - bias.onnx.length)).fill(1), ...bias.onnx];
    if (aligned.length !== conv.shape.length || !aligned.every((d, a) => dimEq(d, a === 1 ? slot.channels : 1))) continue;
    if (!shapeEq(conv.shape, outShape) || cx.lazyAxes(conv).length) continue;
    let b = cx.reshapeTensor(bias.name, bias.onnx, [slot.channels]);
    if (slot.padded > slot.channels) b = cx.op("Pad", [b, cx.g.ints([0, slot.padded - slot.channels])]);
    cx.g.appendInput(slot.node, b);
    convs.delete(eqn.inputs[k] as Var);
    return [conv];
  }
  return undefined;
}

/**
 * The dtype a weakly typed literal input k of `eqn` stands for: jax-js
 * traces `x.mul(2)` on int32 x as `mul x 2.0:float32(weak)`.
 */
function literalDtype(eqn: Eqn, k: number): DType {
  const other = eqn.inputs.find((a, j) => j !== k && !isLit(a));
  if (eqn.primitive === "compare") return (other?.aval.dtype ?? "float32") as DType;
  if (eqn.primitive === "where" && k === 0) return "bool";
  return eqn.outBinders[0].aval.dtype as DType;
}

export function lowerProgram(program: Program, opts: Pick<LowerOptions, "inputNames" | "outputNames" | "tuning"> = {}): LoweredModel {
  const { jaxpr, consts } = program;
  const g = new GraphBuilder();
  const cx = new Lowering(g, opts.tuning);
  const env = new Map<Var, Value>();

  const nArgs = jaxpr.inBinders.length - consts.length;
  const inputNames = opts.inputNames ?? Array.from({ length: nArgs }, (_, i) => `input_${i}`);
  if (inputNames.length !== nArgs) throw new Error(`onnx lowering: ${inputNames.length} input names for ${nArgs} inputs`);
  const used = new Set<Var>();
  for (const e of jaxpr.eqns) for (const a of e.inputs) if (!isLit(a)) used.add(a as Var);
  for (const a of jaxpr.outs) if (!isLit(a)) used.add(a as Var);
  consts.forEach((c, i) => {
    if (!used.has(jaxpr.inBinders[i])) return;
    env.set(jaxpr.inBinders[i], { name: g.constant(c.dtype, c.onnx, c.data, `const_${i}`), shape: c.shape, onnx: c.onnx, dtype: c.dtype });
  });
  inputNames.forEach((name, i) => {
    const v = jaxpr.inBinders[consts.length + i];
    const shape = program.varShape(v);
    const dtype = v.aval.dtype as DType;
    g.addInput(name, dtype, shape);
    shape.forEach((d, axis) => isSym(d) && g.setBatchSource(name, axis, d.k, d.c));
    env.set(v, cx.full(name, shape, dtype));
  });

  /** A literal is a scalar constant; a weakly typed one takes the dtype it is used at (`weak`). */
  const read = (env: Map<Var, Value>, a: Atom, weak?: DType): Value => {
    if (isLit(a)) {
      const dtype = a.aval.weakType && weak ? weak : (a.aval.dtype as DType);
      return cx.full(g.scalar(dtype, a.value), [], dtype);
    }
    const v = env.get(a as Var);
    if (!v) throw new Error(`onnx lowering: internal: ${a.toString()} used before it is defined`);
    return v;
  };

  /** Lower the equations of `body` in order; a jit equation is fused or inlined. */
  const lowerBody = (body: Jaxpr, env: Map<Var, Value>, where: string): void => {
    const uses = usesOf(body);
    const fused = new Map<Var, Saved>();
    const convs = new Map<Var, BiasSlot>();
    body.eqns.forEach((eqn, i) => {
      const here = `equation ${i}${where}`;
      const outs = eqn.outBinders.map((v) => ({ shape: program.varShape(v), dtype: v.aval.dtype as DType }));
      const ins = eqn.inputs.map((a, k) => read(env, a, literalDtype(eqn, k)));
      let values: Value[] | undefined;
      const sub = subJaxpr(eqn);
      if (sub) {
        values = cx.tuning.fuseLibrary === false ? undefined : fuseJit(cx, eqn, ins, outs, uses, fused);
        if (!values) {
          const inner = new Map<Var, Value>(sub.inBinders.map((v, k) => [v, ins[k]]));
          lowerBody(sub, inner, ` of ${eqn.params.name} in ${here}`);
          values = sub.outs.map((a) => read(inner, a));
        }
      } else if (eqn.primitive === "add" && (values = foldBias(cx, eqn, ins, outs[0].shape, uses, convs))) {
        // The add is the conv's bias input.
      } else {
        const rule = rules[eqn.primitive];
        const context = () => `(in ${here}: ${eqn.toString().replace(/\s+/g, " ").trim()})`;
        if (!rule) throw new Error(`onnx lowering: primitive "${eqn.primitive}" is not supported ${context()}`);
        try {
          values = rule(cx, ins, program.params(eqn), outs);
          const slot = eqn.primitive === "conv" ? cx.biasSlots.get(values[0].name) : undefined;
          if (slot) convs.set(eqn.outBinders[0], slot);
        } catch (e) {
          const msg = (e as Error).message;
          throw new Error(msg.includes("(in equation") ? msg : `${msg} ${context()}`);
        }
      }
      eqn.outBinders.forEach((v, k) => env.set(v, values![k]));
    });
  };
  lowerBody(jaxpr, env, "");

  const outputNames = opts.outputNames ?? jaxpr.outs.map((_, i) => `output_${i}`);
  if (outputNames.length !== jaxpr.outs.length) throw new Error(`onnx lowering: ${outputNames.length} output names for ${jaxpr.outs.length} outputs`);
  const renamed = new Map<string, string>();
  jaxpr.outs.forEach((a, i) => {
    const v = cx.materialize(read(env, a));
    const shape = isLit(a) ? [] : program.varShape(a as Var);
    // Name the producing node's output after the graph output; else copy.
    if (!renamed.has(v.name) && g.isNodeOutput(v.name)) {
      g.rename(v.name, outputNames[i]);
      renamed.set(v.name, outputNames[i]);
    } else g.node("Identity", [renamed.get(v.name) ?? v.name], {}, [outputNames[i]]);
    g.addOutput(outputNames[i], v.dtype, shape);
  });
  return { model: g.model("traced by jax-js makeJaxpr, lowered by udm src/engine/onnx"), inputNames, outputNames };
}
