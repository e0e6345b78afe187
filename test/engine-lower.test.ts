import assert from "node:assert/strict";
import { test } from "node:test";
import { init, makeJaxpr, numpy as np, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { lowerJaxpr, rules } from "../src/engine/onnx/index.js";
import { mlp } from "../src/model/mlp.js";
import { transformer } from "../src/model/transformer.js";
import { unet } from "../src/model/unet.js";
import type { Network, Params } from "../src/train/types.js";
import { compareEngines, randn, stepArgs, trainStep } from "./support/engine-lower.js";

/**
 * Each network's forward and full train step (forward + grad + Adam + EMA,
 * as train.ts builds it) lowered to ONNX and run in ONNX Runtime equal the
 * same program under jax-js jit, output by output, to 1e-5 of each output's
 * scale. Weights are perturbed so zero-initialised layers carry signal.
 */

await init("wasm");

const TOL = 1e-5;
const B = 6;
const times = (rng: Rng) => np.array(Float32Array.from({ length: B }, () => rng.uniform()));
const forward = (net: Network) => (p: Params, x: JArray, t: JArray) => net.apply(p, x, t);

async function checkNetwork(net: Network, x: () => JArray, y: () => JArray, loss: "mse" | "l1" | "ce", rng: Rng) {
  const fwdArgs = stepArgs(net, x(), times(rng), y());
  const fwd = await compareEngines(forward(net), [fwdArgs[0], fwdArgs[4], fwdArgs[5]]);
  assert.ok(fwd.worst < TOL, `${net.name} forward: ${fwd.worst} (${fwd.where})`);
  const step = await compareEngines(trainStep(net, loss), stepArgs(net, x(), times(rng), y()));
  assert.ok(step.worst < TOL, `${net.name} train step (${loss}): ${step.worst} (${step.where})`);
  return step;
}

test("MLP: forward and train steps (mse, l1) on ONNX equal jax-js", async () => {
  const rng = new Rng(1);
  const net = mlp({ inputDim: 3, hidden: 16, depth: 2 });
  for (const loss of ["mse", "l1"] as const) {
    const step = await checkNetwork(net, () => randn([B, 3], rng), () => randn([B, 3], rng), loss, rng);
    // params, m, v, ema of 6 layers (w, b) and the loss.
    assert.equal(step.outputs, 4 * 2 * 6 + 1);
  }
});

test("UNet with attention and group norm: forward and train step on ONNX equal jax-js", async () => {
  const rng = new Rng(2);
  const net = unet({ inChannels: 2, channels: [4, 8], groups: 2, timeDim: 8, attention: true });
  await checkNetwork(net, () => randn([B, 2, 8, 8], rng), () => randn([B, 2, 8, 8], rng), "mse", rng);
});

test("Transformer (neighbour embeddings): forward and cross-entropy train step on ONNX equal jax-js", async () => {
  const rng = new Rng(3);
  const [L, V] = [6, 5];
  const net = transformer({ vocab: V, length: L, dim: 8, heads: 2, layers: 1, window: 1 });
  const ids = (n: number) => () => np.array(Float32Array.from({ length: B * L }, () => rng.int(n)), { shape: [B, L] });
  await checkNetwork(net, ids(V + 1), ids(V), "ce", rng);
});

test("a primitive without a lowering rule is an error naming it and the equation", () => {
  const { jaxpr } = makeJaxpr((x: JArray) => np.sort(x.mul(2)))(np.zeros([3, 4]));
  assert.throws(() => lowerJaxpr(jaxpr), /onnx lowering: primitive "sort" is not supported \(in equation 1: .*sort/);
  jaxpr.dispose();
});

test("test of the test: a lowering that drops the transpose of square matrices fails the train-step check", async () => {
  const rng = new Rng(4);
  const net = mlp({ inputDim: 3, hidden: 16, depth: 1 });
  const good = rules.transpose;
  rules.transpose = (cx, ins, params, outs) => (ins[0].shape.length === 2 && ins[0].shape[0] === ins[0].shape[1] ? [ins[0]] : good(cx, ins, params, outs));
  try {
    const step = await compareEngines(trainStep(net, "mse"), stepArgs(net, randn([B, 3], rng), times(rng), randn([B, 3], rng)));
    assert.ok(step.worst > 1e-2, `the broken lowering went unnoticed: ${step.worst}`);
  } finally {
    rules.transpose = good;
  }
});
