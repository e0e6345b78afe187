import os from "node:os";
import { tree, type Array as JArray, type JsTreeDef } from "@jax-js/jax";
import * as ort from "onnxruntime-node";
import { tensor, type Tensor } from "../core/tensor.js";
import { ArraySpec, argSpec, isResident, isTensor, leavesOf, mapTree, specKey, type Arg, type CompileOptions, type Engine, type Program, type Resident, type TracedFn, type Tree } from "./engine.js";
import type { EngineOptions } from "./index.js";
import type { ProgramMemory } from "./memory.js";
import { withConvForm } from "../model/conv.js";
import { compileOnnx, toOrt, type OnnxProgram } from "./onnx/index.js";

/**
 * The onnx back end: each program is traced with jax-js, lowered to ONNX
 * (src/engine/onnx/) and run by onnxruntime-node with intra-op threads = the
 * cores. Loaded only through a dynamic import (index.ts), so nothing that
 * the browser bundles reaches onnxruntime-node.
 *
 * Residents are ort.Tensors: a step's outputs are fed back as the next
 * step's inputs as they are (no copy on our side). Memory: ONNX Runtime
 * plans its buffers and reuses them once dead, so a program needs about the
 * peak of its live values (ProgramMemory.peak), plus slack for the arena.
 */

/**
 * ORT's "memory pattern" pre-plans one block per run from the first run's
 * shapes; without it the arena reuses freed buffers as they die. Measured on
 * the UNet train steps (batch 64): peak RSS 528 -> 379 MiB (82 k weights) and
 * 951 -> 633 MiB (0.97 M weights) at the same CPU time per step.
 */
const SESSION_OPTIONS = { enableMemPattern: false };

const isOrt = (x: unknown): x is ort.Tensor => x instanceof ort.Tensor;

class OrtResident implements Resident {
  readonly engine = "onnx" as const;
  #tree: Tree<ort.Tensor> | undefined;

  constructor(t: Tree<ort.Tensor>) {
    this.#tree = t;
  }

  get tensors(): Tree<ort.Tensor> {
    if (this.#tree === undefined) throw new Error("engine onnx: this resident was disposed");
    return this.#tree;
  }

  spec(): Tree<ArraySpec> {
    return mapTree(this.tensors, (t: ort.Tensor) => new ArraySpec(t.dims.map(Number), t.type as never), isOrt);
  }

  async read(): Promise<Tree<Tensor>> {
    return mapTree(this.tensors, (t: ort.Tensor) => {
      if (t.type !== "float32") throw new Error(`engine onnx: reading a ${t.type} tensor back is not supported (float32 only)`);
      return tensor(t.dims.map(Number), t.data as Float32Array);
    }, isOrt);
  }

  dispose(): void {
    this.#tree = undefined;
  }
}

const toOrtHost = (x: Tensor): ort.Tensor => new ort.Tensor("float32", x.data, [...x.shape]);

function feedsOf(args: Arg[]): ort.Tensor[] {
  return args.flatMap((a) => {
    if (a instanceof OrtResident) return leavesOf(a.tensors, isOrt);
    if (isResident(a)) throw new Error(`engine onnx: got a resident of the ${a.engine} engine; read it back and upload it first`);
    return leavesOf(a, isTensor).map(toOrtHost);
  });
}

/** Spec trees as compileOnnx takes them: plain {shape, dtype} leaves. */
const plainSpecs = (specs: Tree<ArraySpec>[]): unknown[] =>
  specs.map((s) => mapTree(s, (a: ArraySpec) => ({ shape: [...a.shape], dtype: a.dtype }), (x) => x instanceof ArraySpec));

export async function onnxEngine(opts: EngineOptions = {}): Promise<Engine> {
  const threads = opts.threads ?? os.availableParallelism();
  const version = ort.env.versions?.node ?? ort.env.versions?.common ?? "";
  return {
    name: "onnx",
    description: `onnx (onnxruntime-node ${version}, ${threads} thread${threads === 1 ? "" : "s"})`,
    budget: Math.min(os.totalmem() / 4, 16 * 2 ** 30),
    footprint: (m: ProgramMemory) => 1.5 * m.peak,
    compile(fn: TracedFn, copts: CompileOptions = {}): Program {
      const compiled = new Map<string, Promise<{ program: OnnxProgram; outTree: JsTreeDef }>>();
      return {
        async run(...args: Arg[]): Promise<Resident[]> {
          const specs = args.map(argSpec);
          // With a batch axis one session serves every batch size.
          const key = copts.batchAxis ? specKey(specs.map((s) => mapTree(s, (a: ArraySpec) => new ArraySpec([-1, ...a.shape.slice(1)], a.dtype), (x) => x instanceof ArraySpec))) : specKey(specs);
          let c = compiled.get(key);
          if (!c) {
            c = compileOnnx(fn, plainSpecs(specs), { threads, dynamicBatch: copts.batchAxis, sessionOptions: { ...SESSION_OPTIONS, ...opts.onnxSessionOptions } });
            compiled.set(key, c);
            c.catch(() => compiled.delete(key));
          }
          const { program, outTree } = await c;
          const outs = await program.run(feedsOf(args));
          const result = tree.unflatten(outTree, outs) as unknown as Tree<ort.Tensor>[];
          if (!Array.isArray(result)) throw new Error("engine: a compiled function must return an array (a tuple of trees)");
          return result.map((r) => new OrtResident(r));
        },
        dispose() {
          for (const c of compiled.values()) void c.then(({ program }) => program.release()).catch(() => undefined);
          compiled.clear();
        },
      };
    },
    traced: (f) => withConvForm("conv", f),
    async upload(t: Tree<JArray> | Tree<Tensor>): Promise<Resident> {
      const leaves: (JArray | Tensor)[] = leavesOf(t as Tree<JArray | Tensor>, (x) => isTensor(x) || isJax(x));
      const converted = await Promise.all(leaves.map((x) => (isTensor(x) ? toOrtHost(x) : toOrt(x))));
      let i = 0;
      return new OrtResident(mapTree(t as Tree<JArray | Tensor>, () => converted[i++], (x) => isTensor(x) || isJax(x)));
    },
  };
}

const isJax = (x: unknown): x is JArray => typeof x === "object" && x !== null && typeof (x as JArray).dispose === "function" && "shape" in (x as object) && !isTensor(x);
