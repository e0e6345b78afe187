import { DType, type Array as JArray } from "@jax-js/jax";
import type { Tensor } from "../core/tensor.js";
import type { ProgramMemory } from "./memory.js";

/**
 * The engine seam: everything that runs a network (the train step, the
 * sampler's forward, export) hands a pure jax-js function of trees of arrays
 * to an Engine, which compiles it once per shape and runs it. Networks,
 * losses and processes stay written once, in jax-js; a back end only decides
 * where the traced program runs:
 *   jax   jax-js's own jit (Wasm in Node, WebGPU/Wasm in the browser);
 *   onnx  the jaxpr lowered to an ONNX model, run by onnxruntime-node.
 * Arrays that live across calls (weights, Adam moments, EMA) stay on the
 * engine as a Resident and are read back to the host only when asked
 * (checkpoints, progress).
 */

export type EngineName = "jax" | "onnx";

export const engineNames: readonly EngineName[] = ["jax", "onnx"];

/** A tree of T, as jax-js walks it: arrays by index, plain objects in key insertion order. */
export type Tree<T> = T | readonly Tree<T>[] | { readonly [k: string]: Tree<T> };

/** Shape (and dtype) of an array without its values: what a program is compiled for. */
export class ArraySpec {
  readonly weakType = false;
  constructor(
    readonly shape: readonly number[],
    readonly dtype: DType = DType.Float32,
  ) {}
}

/** An engine-side tree of arrays (weights, optimizer state, a program's output). */
export interface Resident {
  readonly engine: EngineName;
  /** The shapes of its leaves, as a tree of the same structure. */
  spec(): Tree<ArraySpec>;
  /** A host copy of the tree (the Resident stays valid). */
  read(): Promise<Tree<Tensor>>;
  /** Free it; using it afterwards is an error. */
  dispose(): void;
}

/** A program argument: engine-side (kept, not consumed) or host Tensors (copied in for this call). */
export type Arg = Resident | Tree<Tensor>;

/**
 * A compiled jax-js function. The function must return an array (a tuple);
 * each element comes back as its own Resident, so a caller can keep one
 * (the next weights) and read another (the loss).
 */
export interface Program {
  run(...args: Arg[]): Promise<Resident[]>;
  /** Free every compiled shape. */
  dispose(): void;
}

/**
 * The traced function an engine compiles: pure, trees of jax-js arrays in, a
 * tuple of trees out. Arrays it closes over (weights of a forward) become
 * constants of the compiled program; take a fresh reference (tree.ref) inside
 * the function, since tracing consumes what it uses.
 */
export type TracedFn = (...args: any[]) => readonly Tree<JArray>[];

export interface CompileOptions {
  /**
   * Every argument carries the batch on axis 0 and nothing else depends on
   * it: an engine may compile once for every batch size (onnx) instead of
   * once per size (jax).
   */
  batchAxis?: boolean;
}

export interface Engine {
  readonly name: EngineName;
  /** One line for the notice: "onnx (onnxruntime-node 1.30.0, 2 threads)". */
  readonly description: string;
  /** Bytes of working memory one compiled program may take on this engine. */
  readonly budget: number;
  /** Bytes this engine needs to run a traced program (see memory.ts). */
  footprint(m: ProgramMemory): number;
  compile(fn: TracedFn, opts?: CompileOptions): Program;
  /** Run `f` (a trace) the way this engine traces what it compiles (onnx: 3x3 convolutions as lax.conv). */
  traced<T>(f: () => T): T;
  /** Put arrays on the engine: jax-js arrays (consumed) or host Tensors. */
  upload(tree: Tree<JArray> | Tree<Tensor>): Promise<Resident>;
}

export function isTensor(x: unknown): x is Tensor {
  return typeof x === "object" && x !== null && (x as Tensor).data instanceof Float32Array && Array.isArray((x as Tensor).shape);
}

export function isResident(x: unknown): x is Resident {
  return typeof x === "object" && x !== null && typeof (x as Resident).spec === "function" && typeof (x as Resident).read === "function";
}

/** Map the leaves of a tree (a leaf is whatever `isLeaf` says, or anything that is not an array or plain object). */
export function mapTree<A, B>(t: Tree<A>, f: (leaf: A) => B, isLeaf: (x: unknown) => boolean = () => false): Tree<B> {
  if (isLeaf(t)) return f(t as A);
  if (Array.isArray(t)) return t.map((c) => mapTree(c, f, isLeaf));
  if (typeof t === "object" && t !== null && (t as object).constructor === Object) {
    const out: Record<string, Tree<B>> = {};
    for (const [k, v] of Object.entries(t)) out[k] = mapTree(v as Tree<A>, f, isLeaf);
    return out;
  }
  return f(t as A);
}

/** The leaves of a tree in jax-js's order. */
export function leavesOf<A>(t: Tree<A>, isLeaf: (x: unknown) => boolean = () => false): A[] {
  const out: A[] = [];
  mapTree(t, (x) => out.push(x), isLeaf);
  return out;
}

/** The spec tree of a host tree. */
export const hostSpec = (t: Tree<Tensor>): Tree<ArraySpec> => mapTree(t, (x: Tensor) => new ArraySpec(x.shape), isTensor);

/** The spec of any program argument. */
export const argSpec = (a: Arg): Tree<ArraySpec> => (isResident(a) ? a.spec() : hostSpec(a));

/** A readable key of the shapes of some specs (one compiled program per key). */
export function specKey(specs: readonly Tree<ArraySpec>[]): string {
  return JSON.stringify(specs, (_k, v) => (v instanceof ArraySpec ? `${v.dtype}[${v.shape.join(",")}]` : v));
}
