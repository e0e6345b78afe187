import { makeJaxpr, tree, type Array as JArray } from "@jax-js/jax";
import type { Network, Params } from "../train/types.js";
import { ArraySpec } from "./engine.js";
import { compileOnnx } from "./onnx/index.js";

/**
 * A network's forward as a portable ONNX model (ONNX Runtime, Triton, any
 * runtime): the weights are constants of the graph and the batch is free.
 * Inputs (float32):
 *   x_t    [batch, ...item]   the noisy data at time t
 *   t      [batch]            its time in [0, 1] (0 = data, 1 = fully destroyed)
 *   class  [batch]            class ids, only for a class-conditional network
 *                             (id = number of classes: the unconditional model)
 * Output (float32):
 *   output [batch, ...]       the network's output (what it means is the
 *                             objective's: x0, eps, v or logits; see the JSON)
 * Node only: loads onnxruntime-node (the model is opened once to check it).
 */
export const EXPORT_INPUTS = ["x_t", "t", "class"] as const;
export const EXPORT_OUTPUT = "output";

export interface ExportedForward {
  model: Uint8Array;
  inputs: { name: string; shape: (number | "batch")[] }[];
  output: { name: string; shape: (number | "batch")[] };
}

export async function exportForward(network: Network, params: Params, itemShape: readonly number[], opts: { conditional?: boolean } = {}): Promise<ExportedForward> {
  const held = tree.ref(params);
  const fn = opts.conditional
    ? (x: JArray, t: JArray, c: JArray) => network.apply(tree.ref(held), x, t, c)
    : (x: JArray, t: JArray) => network.apply(tree.ref(held), x, t);
  const names = opts.conditional ? [...EXPORT_INPUTS] : EXPORT_INPUTS.slice(0, 2);
  const example = [{ shape: [1, ...itemShape] }, { shape: [1] }, ...(opts.conditional ? [{ shape: [1] }] : [])];
  try {
    // No NCHWc convs: their weight layout depends on this machine's block size, and the file is for any server.
    const { program } = await compileOnnx(fn, example, { dynamicBatch: true, inputNames: names, outputNames: [EXPORT_OUTPUT], threads: 1, tuning: { nchwcBlock: 0 } });
    await program.release();
    const { jaxpr } = makeJaxpr(fn as (...a: JArray[]) => JArray)(...example.map((e) => new ArraySpec(e.shape) as never));
    const outShape = (jaxpr.jaxpr.outs[0] as unknown as { aval: { shape: number[] } }).aval.shape;
    jaxpr.dispose();
    return {
      model: program.model,
      inputs: names.map((name, i) => ({ name, shape: ["batch", ...example[i].shape.slice(1)] })),
      output: { name: EXPORT_OUTPUT, shape: ["batch", ...outShape.slice(1)] },
    };
  } finally {
    tree.dispose(held);
  }
}
