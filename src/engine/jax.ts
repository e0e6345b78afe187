import { blockUntilReady, jit, numpy as np, tree, type Array as JArray } from "@jax-js/jax";
import { tensor, type Tensor } from "../core/tensor.js";
import { ArraySpec, isResident, isTensor, mapTree, type Arg, type Engine, type Program, type Resident, type TracedFn, type Tree } from "./engine.js";
import type { ProgramMemory } from "./memory.js";

/**
 * The jax back end: jax-js's jit, on whatever device jax-js was initialised
 * with (Wasm in Node). Memory: jit schedules every kernel of a program before
 * it runs the first, so all its buffers are alive at once, and the Wasm heap
 * never shrinks (freed buffers are reused only by buffers of the same size);
 * a program is therefore sized by ALL its intermediates, within a budget well
 * under the 4 GiB memory32 cap so that several programs (train step,
 * sampler forward) fit side by side.
 */
export const JAX_BUDGET = 1.5 * 2 ** 30;

const isJaxArray = (x: unknown): x is JArray => typeof x === "object" && x !== null && typeof (x as JArray).dispose === "function" && "shape" in (x as object);

class JaxResident implements Resident {
  readonly engine = "jax" as const;
  #tree: Tree<JArray> | undefined;

  constructor(t: Tree<JArray>) {
    this.#tree = t;
  }

  /** The arrays, still owned by the Resident (take .ref to use them). */
  get arrays(): Tree<JArray> {
    if (this.#tree === undefined) throw new Error("engine jax: this resident was disposed");
    return this.#tree;
  }

  spec(): Tree<ArraySpec> {
    return mapTree(this.arrays, (a: JArray) => new ArraySpec(a.shape, a.dtype), isJaxArray);
  }

  async read(): Promise<Tree<Tensor>> {
    const leaves: JArray[] = [];
    const shaped = mapTree(this.arrays, (a: JArray) => (leaves.push(a), a), isJaxArray);
    const data = await Promise.all(leaves.map((a) => a.ref.data()));
    let i = 0;
    return mapTree(shaped, (a: JArray) => {
      const d = data[i++];
      return tensor(a.shape, d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>));
    }, isJaxArray);
  }

  dispose(): void {
    if (this.#tree !== undefined) tree.dispose(this.#tree as never);
    this.#tree = undefined;
  }
}

const fromHost = (t: Tree<Tensor>): Tree<JArray> => mapTree(t, (x: Tensor) => np.array(x.data).reshape([...x.shape]), isTensor);

function toArgs(args: Arg[]): Tree<JArray>[] {
  return args.map((a) => {
    if (a instanceof JaxResident) return tree.ref(a.arrays as never) as Tree<JArray>;
    if (isResident(a)) throw new Error(`engine jax: got a resident of the ${a.engine} engine; read it back and upload it first`);
    return fromHost(a);
  });
}

export function jaxEngine(): Engine {
  return {
    name: "jax",
    description: "jax (jax-js jit, Wasm)",
    budget: JAX_BUDGET,
    footprint: (m: ProgramMemory) => m.inputs + m.total,
    // jit compiles once per argument shape; a batch axis changes nothing here.
    compile(fn: TracedFn): Program {
      const f = jit(fn as (...a: any[]) => any);
      return {
        async run(...args: Arg[]): Promise<Resident[]> {
          const out = f(...(toArgs(args) as any[])) as Tree<JArray>[];
          if (!Array.isArray(out)) throw new Error("engine: a compiled function must return an array (a tuple of trees)");
          // jax-js allocates a program's buffers when it is queued and frees them when it has run:
          // run it now, so that programs queued back to back (micro-batches) never hold memory together.
          await blockUntilReady(out);
          return out.map((o) => new JaxResident(o));
        },
        dispose: () => f.dispose(),
      };
    },
    traced: (f) => f(),
    async upload(t: Tree<JArray> | Tree<Tensor>): Promise<Resident> {
      return new JaxResident(mapTree(t as Tree<JArray | Tensor>, (x) => (isTensor(x) ? np.array(x.data).reshape([...x.shape]) : x), (x) => isTensor(x) || isJaxArray(x)) as Tree<JArray>);
    },
  };
}
