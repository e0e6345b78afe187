/**
 * Train the convolutional classifier behind the sample-quality metric
 * (src/images/classifier.ts) and write its weights to
 * models/classifier-<data>/ (weights.safetensors + config.json).
 *
 *   node --import tsx bench/train-classifier.ts mnist|fashion [--epochs 4] [--shift 2] [--limit N] [--out DIR]
 *
 * Cross-entropy, Adam (lr 2e-3, cosine decay to 5 %), batch 128, seed 0,
 * the step traced once and run on ONNX Runtime (UDM_THREADS threads, default 2);
 * light augmentation (random shifts of up to --shift pixels) so the features
 * do not hinge on exact pixel positions. --limit trains on the first rows
 * only and --out writes elsewhere (a quick check of the script:
 * `--limit 2000 --out /tmp/clf`).
 * Prints the test accuracy (all 10 000 test images) measured with the same
 * inference that the metric uses.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { init, nn, tree, valueAndGrad, numpy as np, type Array as JArray } from "@jax-js/jax";
import * as ort from "onnxruntime-node";
import { compileOnnx } from "../src/engine/onnx/index.js";
import { Rng } from "../src/core/rng.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { fashionMnist, mnist } from "../src/data/mnist.js";
import { accuracy, classifierApply, classifierFromParams, initClassifier, modelsDir } from "../src/images/classifier.js";
import { adamScalars, adamUpdate, defaultAdam } from "../src/train/adam.js";
import { fromParams } from "../src/train/checkpoint.js";
import { encodeSafetensors } from "../src/train/safetensors.js";
import type { Params } from "../src/train/types.js";
import { arg } from "./udm.js";

await init("wasm");
const which = process.argv[2] ?? "mnist";
if (which !== "mnist" && which !== "fashion") throw new Error(`train-classifier: data must be mnist or fashion, got ${which}`);
const epochs = Number(arg("epochs", "4"));
const shift = Number(arg("shift", "2"));
const limit = arg("limit", "") === "" ? undefined : Number(arg("limit", ""));
const load = which === "mnist" ? mnist : fashionMnist;
const trainSet = load({ split: "train", limit });
const testSet = load({ split: "test" });
const rng = new Rng(0);

const lossOf = (p: Params, x: JArray, y: JArray): JArray => {
  const [, logits] = classifierApply(p, x);
  return nn.logSoftmax(logits, -1).mul(y).sum(-1).mean().neg();
};
const stepFn = (p: Params, m: Params, v: Params, x: JArray, y: JArray, lr: JArray, c1: JArray, c2: JArray) => {
  const [loss, g] = valueAndGrad(lossOf)(tree.ref(p), x, y);
  const up = adamUpdate(defaultAdam, p, g as Params, m, v, lr, c1, c2);
  return [up.params, up.m, up.v, loss];
};

/** A batch with each image shifted by up to `shift` pixels (the background, -1, fills in), and one-hot labels. */
function batch(idx: ArrayLike<number>): { x: Float32Array; y: Float32Array } {
  const x = new Float32Array(idx.length * 784).fill(-1);
  const y = new Float32Array(idx.length * 10);
  for (let b = 0; b < idx.length; b++) {
    const n = idx[b];
    const dy = rng.int(2 * shift + 1) - shift, dx = rng.int(2 * shift + 1) - shift;
    for (let i = 0; i < 28; i++) for (let j = 0; j < 28; j++) {
      const si = i - dy, sj = j - dx;
      if (si >= 0 && si < 28 && sj >= 0 && sj < 28) x[b * 784 + i * 28 + j] = trainSet.images.data[n * 784 + si * 28 + sj];
    }
    y[b * 10 + trainSet.labels[n]] = 1;
  }
  return { x, y };
}

// The step runs on ONNX Runtime (src/engine/onnx): traced once, weights and Adam moments stay ONNX tensors.
const B = 128;
const p0 = initClassifier(0);
const keys = Object.keys(p0);
const spec = (shape: number[]) => ({ shape });
const paramSpec = Object.fromEntries(keys.map((k) => [k, spec([...p0[k].shape])]));
const { program } = await compileOnnx(stepFn, [paramSpec, paramSpec, paramSpec, spec([B, 1, 28, 28]), spec([B, 10]), spec([]), spec([]), spec([])], { threads: Number(process.env.UDM_THREADS ?? 2) });
const host = (a: JArray) => new ort.Tensor("float32", a.dataSync() as Float32Array, [...a.shape]);
const scalar = (v: number) => new ort.Tensor("float32", Float32Array.of(v), []);
const zeros = (a: JArray) => new ort.Tensor("float32", new Float32Array(a.size), [...a.shape]);
// Weights, then the two Adam moments (zero), in the traced argument order.
const moments = [...keys.map((k) => zeros(p0[k])), ...keys.map((k) => zeros(p0[k]))];
let state: ort.Tensor[] = [...keys.map((k) => host(p0[k])), ...moments];
const N = trainSet.images.shape[0];
const perEpoch = Math.floor(N / B);
const total = epochs * perEpoch;
let k = 0;
const t0 = Date.now();
for (let e = 0; e < epochs; e++) {
  const order = rng.permutation(N);
  let sum = 0;
  for (let s = 0; s + B <= N; s += B) {
    const { x, y } = batch(order.subarray(s, s + B));
    const lrK = 2e-3 * (0.05 + 0.95 * 0.5 * (1 + Math.cos((Math.PI * k) / total)));
    const [lr, c1, c2] = adamScalars(defaultAdam, lrK, ++k);
    const out = await program.run([...state, new ort.Tensor("float32", x, [B, 1, 28, 28]), new ort.Tensor("float32", y, [B, 10]), scalar(lr), scalar(c1), scalar(c2)]);
    state = out.slice(0, 3 * keys.length);
    const loss = (out[3 * keys.length].data as Float32Array)[0];
    if (!Number.isFinite(loss)) throw new Error(`train-classifier: loss ${loss} at step ${k}`);
    sum += loss;
    if (k % 50 === 0) {
      const el = (Date.now() - t0) / 1000;
      process.stdout.write(`\rstep ${k}/${total}, loss ${(sum / (k - e * perEpoch)).toFixed(4)}, ${el.toFixed(0)} s, ETA ${((el / k) * (total - k)).toFixed(0)} s   `);
    }
  }
  console.log(`\nepoch ${e + 1}: mean loss ${(sum / perEpoch).toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
}
await program.release();
const p: Params = Object.fromEntries(keys.map((key, i) => [key, np.array(state[i].data as Float32Array).reshape(state[i].dims.map(Number))]));
const clf = classifierFromParams(which, p);
const acc = await accuracy(clf, testSet.images, testSet.labels);
console.log(`${which}: test accuracy ${(acc * 100).toFixed(2)}% (${testSet.images.shape[0]} test images)`);
const weights = await fromParams(p);
const dir = arg("out", join(modelsDir(), `classifier-${which}`));
mkdirSync(dir, { recursive: true });
const w: Record<string, Tensor> = {};
for (const [name, t] of Object.entries(weights)) w[name] = tensor(t.shape, t.data);
writeFileSync(join(dir, "weights.safetensors"), encodeSafetensors(w, { data: which }));
const seconds = (Date.now() - t0) / 1000;
writeFileSync(
  join(dir, "config.json"),
  JSON.stringify({ data: which, architecture: "conv3x3 16, pool, conv3x3 32, pool, conv3x3 32, dense 128 (features), dense 10; SiLU", features: 128, epochs, shift, batchSize: B, trainRows: N, seed: 0, testAccuracy: acc, seconds, trainedBy: "bench/train-classifier.ts" }, null, 2) + "\n",
);
console.log(`wrote ${dir}`);
