import type { ClosedJaxpr, Jaxpr } from "@jax-js/jax";
import { dimsString, fitDim, type Dim } from "./dims.js";
import { typedOf, type ConstData, type DType } from "./graph.js";

/**
 * A traced program ready to lower: its equations (nested `jit` equations
 * kept: the lowering inlines them or, for known library functions, fuses
 * them), its constants' data, and every shape and shape-like parameter as
 * Dims. With one trace all
 * Dims are numbers; with traces at several batch sizes (same equations,
 * different shapes) a number that changes with the batch becomes
 * k * batch + c, and a constant that grows with the batch (e.g. the zeros of
 * a padding) must repeat along those axes: it is stored once, size 1 there.
 */

type Var = Jaxpr["inBinders"][number];
type Atom = Jaxpr["outs"][number];
export type Eqn = Jaxpr["eqns"][number];

export interface ProgramConst {
  dtype: DType;
  /** The jax-js shape. */
  shape: Dim[];
  /** The stored tensor's shape (1 on the axes that grow with the batch). */
  onnx: number[];
  data: ConstData;
}

export interface Program {
  readonly jaxpr: Jaxpr;
  readonly consts: ProgramConst[];
  /** The shape of any variable, also inside nested jit equations. */
  varShape(v: Var): Dim[];
  /** Parameters of an equation, batch-dependent numbers as Dims. */
  params(e: Eqn): Record<string, any>;
}

export const isLit = (a: Atom): a is Atom & { value: number } => "value" in a;

/** The sub-program of a jit equation. */
export const subJaxpr = (e: Eqn): Jaxpr | undefined => (e.primitive === "jit" ? (e.params.jaxpr as Jaxpr) : undefined);

function constData(c: ClosedJaxpr["consts"][number]): { dtype: DType; shape: number[]; data: ConstData } {
  const arr = c as unknown as { ref: { dataSync(): ArrayLike<number> }; shape: number[]; dtype: DType };
  const raw = arr.ref.dataSync();
  return { dtype: arr.dtype, shape: [...arr.shape], data: typedOf(arr.dtype, raw) };
}

/** A program of fixed shapes, from one trace. */
export function staticProgram(closed: ClosedJaxpr): Program {
  const jaxpr = closed.jaxpr;
  const consts = closed.consts.map((c) => {
    const d = constData(c);
    return { ...d, onnx: d.shape };
  });
  return { jaxpr, consts, varShape: (v) => [...v.aval.shape], params: (e) => e.params };
}

/**
 * A program whose batch is free, from traces of the same function at
 * several batch sizes (at least three: two fit each line, the third checks).
 */
export function batchProgram(traces: { batch: number; closed: ClosedJaxpr }[]): Program {
  if (traces.length < 3) throw new Error("onnx lowering: a dynamic batch needs traces at three batch sizes");
  const batches = traces.map((t) => t.batch);
  const jaxprs = traces.map((t) => t.closed.jaxpr);
  const main = jaxprs[0];
  if (jaxprs.some((j) => structure(j) !== structure(main))) {
    throw new Error(`onnx lowering: the traced program changes its equations with the batch size (${batches.join(", ")}); cannot export a dynamic batch`);
  }
  const shapes = new Map<Var, Dim[]>();
  const params = new Map<Eqn, any>();
  const fitShape = (vars: Var[], what: () => string) => {
    const s = vars.map((v) => v.aval.shape);
    if (s.some((x) => x.length !== s[0].length)) throw new Error(`onnx lowering: ${what()} changes rank with the batch size`);
    shapes.set(vars[0], s[0].map((_, a) => fitDim(batches, s.map((x) => x[a]), () => `axis ${a} of ${what()}`)));
  };
  // Walk the traces in lockstep, into nested jit equations too.
  const walk = (js: Jaxpr[], where: string) => {
    js[0].inBinders.forEach((_, i) => fitShape(js.map((j) => j.inBinders[i]), () => `input ${i}${where}`));
    js[0].eqns.forEach((e, i) => {
      const es = js.map((j) => j.eqns[i]);
      const what = () => `equation ${i} (${e.primitive})${where}`;
      e.outBinders.forEach((_, o) => fitShape(es.map((x) => x.outBinders[o]), () => `output ${o} of ${what()}`));
      e.inputs.forEach((a, k) => {
        if (!isLit(a)) return;
        const values = es.map((x) => (x.inputs[k] as { value: number }).value);
        if (values.some((v) => v !== values[0])) {
          throw new Error(`onnx lowering: literal ${k} of ${what()}: ${e.toString().replace(/\s+/g, " ").trim()} is ${values.join(", ")} at batch ${batches.join(", ")} (e.g. a mean over the batch); cannot export a dynamic batch`);
        }
      });
      const subs = es.map(subJaxpr);
      if (subs[0]) walk(subs as Jaxpr[], ` in ${e.params.name}`);
      else params.set(e, fitParams(batches, es.map((x) => x.params), () => `a parameter of ${what()}`));
    });
  };
  walk(jaxprs, "");
  const consts = traces[0].closed.consts.map((_, i) => batchConst(batches, traces.map((t) => constData(t.closed.consts[i])), i));
  return {
    jaxpr: main,
    consts,
    varShape: (v) => {
      const s = shapes.get(v);
      if (!s) throw new Error(`onnx lowering: internal: no shape for ${v.toString()}`);
      return s;
    },
    params: (e) => params.get(e) ?? e.params,
  };
}

/** The equations of a program, nested ones included, as a string to compare traces by. */
function structure(j: Jaxpr): string {
  const eqn = (e: Eqn): string => `${e.primitive}/${e.inputs.length}/${e.outBinders.length}${subJaxpr(e) ? `{${structure(subJaxpr(e)!)}}` : ""}`;
  return `${j.inBinders.length}|${j.eqns.map(eqn).join(",")}|${j.outs.length}`;
}

/** Fit every number of a parameter tree across traces. */
function fitParams(batches: number[], values: unknown[], what: () => string): any {
  const v0 = values[0];
  if (typeof v0 === "number") return fitDim(batches, values as number[], what);
  if (Array.isArray(v0)) return v0.map((_, i) => fitParams(batches, values.map((v) => (v as unknown[])[i]), what));
  if (v0 && typeof v0 === "object" && (v0 as object).constructor === Object) {
    return Object.fromEntries(Object.keys(v0).map((k) => [k, fitParams(batches, values.map((v) => (v as Record<string, unknown>)[k]), what)]));
  }
  return v0;
}

/** A constant across traces: equal, or repeating along the axes that grow with the batch. */
function batchConst(batches: number[], cs: { dtype: DType; shape: number[]; data: ConstData }[], index: number): ProgramConst {
  const shape = cs[0].shape.map((_, a) => fitDim(batches, cs.map((c) => c.shape[a]), () => `axis ${a} of constant ${index}`));
  const grow = shape.flatMap((d, a) => (typeof d === "number" ? [] : [a]));
  const onnx = cs[0].shape.map((d, a) => (grow.includes(a) ? 1 : d));
  const data = firstSlice(cs[0], grow);
  for (const c of cs) {
    if (!repeats(c, grow, data)) {
      throw new Error(`onnx lowering: constant ${index} ${dimsString(shape)} changes along its batch-dependent axes; cannot export a dynamic batch`);
    }
  }
  return { dtype: cs[0].dtype, shape, onnx, data };
}

/** The slice at index 0 of `axes` (as a flat array). */
function firstSlice(c: { dtype: DType; shape: number[]; data: ConstData }, axes: number[]): ConstData {
  if (axes.length === 0) return c.data;
  const out: number[] = [];
  forEachIndex(c.shape, (idx, flat) => {
    if (axes.every((a) => idx[a] === 0)) out.push(Number(c.data[flat]));
  });
  return typedOf(c.dtype, out);
}

function repeats(c: { shape: number[]; data: ConstData }, axes: number[], slice: ConstData): boolean {
  const sliceShape = c.shape.map((d, a) => (axes.includes(a) ? 1 : d));
  let ok = true;
  forEachIndex(c.shape, (idx, flat) => {
    let j = 0;
    for (let a = 0; a < idx.length; a++) j = j * sliceShape[a] + (axes.includes(a) ? 0 : idx[a]);
    if (!Object.is(Number(c.data[flat]), Number(slice[j]))) ok = false;
  });
  return ok;
}

function forEachIndex(shape: number[], f: (idx: number[], flat: number) => void): void {
  const size = shape.reduce((a, b) => a * b, 1);
  const idx = new Array(shape.length).fill(0);
  for (let flat = 0; flat < size; flat++) {
    f(idx, flat);
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
}
