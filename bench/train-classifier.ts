/**
 * Train the small classifier behind the sample-quality metric
 * (src/images/classifier.ts) and write its weights to
 * models/classifier-<data>/ (weights.safetensors + config.json).
 *
 *   node --import tsx bench/train-classifier.ts mnist|fashion [epochs=3]
 *
 * MLP 784 -> 64 -> 32 -> 10 with SiLU, cross-entropy, Adam (lr 2e-3, batch
 * 128), seed 0; light augmentation (random shifts of up to 2 pixels) so the
 * features do not hinge on exact pixel positions. The test accuracy is
 * measured with the plain-JS inference that the metric uses.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { init, jit, nn, numpy as np, tree, valueAndGrad, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { fashionMnist, mnist } from "../src/data/mnist.js";
import { accuracy, classifierFromWeights, modelsDir } from "../src/images/classifier.js";
import { adamInit, adamScalars, adamUpdate, defaultAdam } from "../src/train/adam.js";
import { fromParams } from "../src/train/checkpoint.js";
import { encodeSafetensors } from "../src/train/safetensors.js";
import type { Params } from "../src/train/types.js";

await init("wasm");
const which = process.argv[2] ?? "mnist";
if (which !== "mnist" && which !== "fashion") throw new Error(`train-classifier: data must be mnist or fashion, got ${which}`);
const epochs = Number(process.argv[3] ?? 3);
const load = which === "mnist" ? mnist : fashionMnist;
const trainSet = load({ split: "train" });
const testSet = load({ split: "test" });
const dims = [784, 64, 32, 10];
const rng = new Rng(0);
const params: Params = {};
for (let l = 0; l < 3; l++) {
  const w = Float32Array.from({ length: dims[l] * dims[l + 1] }, () => rng.normal() / Math.sqrt(dims[l]));
  params[`w${l + 1}`] = np.array(w).reshape([dims[l], dims[l + 1]]);
  params[`b${l + 1}`] = np.zeros([dims[l + 1]]);
}
const forward = (p: Params, x: JArray): JArray => {
  const h1 = nn.silu(np.matmul(x, p.w1).add(p.b1));
  const h2 = nn.silu(np.matmul(h1, p.w2).add(p.b2));
  return np.matmul(h2, p.w3).add(p.b3);
};
const lossOf = (p: Params, x: JArray, y: JArray): JArray => nn.logSoftmax(forward(p, x), -1).mul(y).sum(-1).mean().neg();
const step = jit((p: Params, m: Params, v: Params, x: JArray, y: JArray, lr: JArray, c1: JArray, c2: JArray) => {
  const [loss, g] = valueAndGrad(lossOf)(tree.ref(p), x, y);
  const up = adamUpdate(defaultAdam, p, g as Params, m, v, lr, c1, c2);
  return [up.params, up.m, up.v, loss] as [Params, Params, Params, JArray];
});

/** A batch with each image shifted by up to 2 pixels (zero = background -1 filled). */
function batch(idx: ArrayLike<number>): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(idx.length * 784).fill(-1);
  const y = new Float32Array(idx.length * 10);
  for (let b = 0; b < idx.length; b++) {
    const n = idx[b];
    const dy = rng.int(5) - 2, dx = rng.int(5) - 2;
    for (let i = 0; i < 28; i++) for (let j = 0; j < 28; j++) {
      const si = i - dy, sj = j - dx;
      if (si >= 0 && si < 28 && sj >= 0 && sj < 28) x[b * 784 + i * 28 + j] = trainSet.images.data[n * 784 + si * 28 + sj];
    }
    y[b * 10 + trainSet.labels[n]] = 1;
  }
  return { x, y };
}

let p = params;
let { m, v } = adamInit(p);
const B = 128;
const N = trainSet.images.shape[0];
let k = 0;
const t0 = Date.now();
for (let e = 0; e < epochs; e++) {
  const order = rng.permutation(N);
  let total = 0, count = 0;
  for (let s = 0; s + B <= N; s += B) {
    const { x, y } = batch(order.subarray(s, s + B));
    const [lr, c1, c2] = adamScalars(defaultAdam, 2e-3 * (e === epochs - 1 ? 0.3 : 1), ++k);
    const out = step(p, m, v, np.array(x).reshape([B, 784]), np.array(y).reshape([B, 10]), np.array(lr), np.array(c1), np.array(c2));
    [p, m, v] = out;
    total += (await out[3].data())[0];
    count++;
  }
  console.log(`epoch ${e + 1}: mean loss ${(total / count).toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}
const weights = await fromParams(p);
const clf = classifierFromWeights(which, weights);
const acc = accuracy(clf, testSet.images, testSet.labels);
console.log(`${which}: test accuracy ${(acc * 100).toFixed(2)}%`);
const dir = join(modelsDir(), `classifier-${which}`);
mkdirSync(dir, { recursive: true });
const w: Record<string, Tensor> = {};
for (const [name, t] of Object.entries(weights)) w[name] = tensor(t.shape, t.data);
writeFileSync(join(dir, "weights.safetensors"), encodeSafetensors(w, { data: which }));
writeFileSync(join(dir, "config.json"), JSON.stringify({ data: which, architecture: "mlp 784-64-32-10 silu", features: "penultimate (32)", epochs, batchSize: B, seed: 0, testAccuracy: acc, trainedBy: "bench/train-classifier.ts" }, null, 2) + "\n");
console.log(`wrote ${dir}`);
tree.dispose(p);
tree.dispose(m);
tree.dispose(v);
