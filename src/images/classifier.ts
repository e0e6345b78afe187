import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { numpy as np, tree, type Array as JArray } from "@jax-js/jax";
import { batchedForward, type BatchedForward } from "../engine/forward.js";
import { Rng } from "../core/rng.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { avgPool2, conv3x3, initConv3x3 } from "../model/conv.js";
import { dense, initDense, ParamTaker, silu } from "../model/layers.js";
import { toParams } from "../train/checkpoint.js";
import { decodeSafetensors } from "../train/safetensors.js";
import type { Params } from "../train/types.js";
import { classEntropy, frechetDistance, meanCov } from "./frechet.js";

/**
 * A small convolutional classifier for 28 x 28 grey images in [-1, 1]
 * (MNIST, Fashion-MNIST), trained by bench/train-classifier.ts with weights
 * committed under models/classifier-<data>/, used as a sample-quality
 * metric, FID-style (Heusel et al. 2017) with this network's features
 * instead of Inception's:
 *   conv3x3 16, SiLU, 2x2 pool -> conv3x3 32, SiLU, 2x2 pool ->
 *   conv3x3 32, SiLU -> flatten (7 x 7 x 32) -> dense 128, SiLU (the
 *   features) -> dense 10 (the logits).
 * The score (sampleQuality) is the Frechet distance between Gaussians fitted
 * to the features of samples and of real test images, and the entropy of the
 * predicted-class histogram (ln 10 = 2.303 when all ten classes are equally
 * frequent; low = mode collapse). Inference runs on the default engine
 * (src/engine/: ONNX Runtime in Node), batched to fit its memory.
 */
export const FEATURES = 128;
const SIDE = 28;

export function initClassifier(seed: number): Params {
  const rng = new Rng(seed);
  const p: Params = {};
  initConv3x3(p, "conv1", rng, 1, 16);
  initConv3x3(p, "conv2", rng, 16, 32);
  initConv3x3(p, "conv3", rng, 32, 32);
  initDense(p, "features", rng, 7 * 7 * 32, FEATURES);
  initDense(p, "logits", rng, FEATURES, 10);
  return p;
}

/** Features [B, 128] and logits [B, 10] of images [B, 1, 28, 28]; consumes its arguments. */
export function classifierApply(params: Params, x: JArray): [JArray, JArray] {
  const p = new ParamTaker(params);
  const [B] = x.shape;
  let h = np.transpose(x, [0, 2, 3, 1]);
  h = avgPool2(silu(conv3x3(p, "conv1", h)));
  h = avgPool2(silu(conv3x3(p, "conv2", h)));
  h = silu(conv3x3(p, "conv3", h)).reshape([B, 7 * 7 * 32]);
  const features = silu(dense(p, "features", h));
  const logits = dense(p, "logits", features.ref);
  p.finish();
  return [features, logits];
}

export interface Classifier {
  readonly data: string;
  readonly params: Params;
  /** Features and logits side by side, [N, 128 + 10], on the default engine (src/engine/). */
  readonly forward: BatchedForward;
}

/** models/ at the package root (works from src/ under tsx and from dist/src/). */
export function modelsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "models"))) return join(dir, "models");
    dir = dirname(dir);
  }
  throw new Error("classifier: cannot find the models/ folder of the udm package");
}

export function classifierFromParams(data: string, params: Params): Classifier {
  const want = initClassifier(0);
  for (const [k, v] of Object.entries(want)) {
    const got = params[k];
    if (!got) throw new Error(`classifier(${data}): weights lack "${k}"`);
    if (got.shape.join() !== v.shape.join()) throw new Error(`classifier(${data}): weight "${k}" has shape [${got.shape}], the network needs [${v.shape}]`);
  }
  tree.dispose(want);
  const both = (p: Params, b: { x: JArray }) => np.concatenate(classifierApply(p, b.x), 1);
  return { data, params, forward: batchedForward(both, params, { label: `classifier(${data})` }) };
}

/** Load models/classifier-<data>/weights.safetensors ("mnist" or "fashion"). */
export function loadClassifier(data: string, dir?: string): Classifier {
  const folder = dir ?? join(modelsDir(), `classifier-${data}`);
  const file = join(folder, "weights.safetensors");
  if (!existsSync(file)) throw new Error(`classifier: no weights for "${data}" at ${file} (train them with bench/train-classifier.ts ${data})`);
  return classifierFromParams(data, toParams(decodeSafetensors(readFileSync(file), file).tensors));
}

/** Penultimate features [N][128] and predicted classes of images [N, 1, 28, 28]. */
export async function classify(clf: Classifier, images: Tensor): Promise<{ features: Float64Array[]; predictions: Uint8Array }> {
  const [N, C, H, W] = images.shape;
  if (images.shape.length !== 4 || C !== 1 || H !== SIDE || W !== SIDE) {
    throw new Error(`classifier(${clf.data}): expects images [N, 1, 28, 28], got [${images.shape.join(", ")}]`);
  }
  const out = (await clf.forward({ x: images })).data;
  const D = FEATURES + 10;
  const features: Float64Array[] = [];
  const predictions = new Uint8Array(N);
  for (let n = 0; n < N; n++) {
    features.push(Float64Array.from(out.subarray(n * D, n * D + FEATURES)));
    let best = 0;
    for (let k = 1; k < 10; k++) if (out[n * D + FEATURES + k] > out[n * D + FEATURES + best]) best = k;
    predictions[n] = best;
  }
  return { features, predictions };
}

export async function accuracy(clf: Classifier, images: Tensor, labels: ArrayLike<number>): Promise<number> {
  const { predictions } = await classify(clf, images);
  let ok = 0;
  for (let i = 0; i < predictions.length; i++) if (predictions[i] === labels[i]) ok++;
  return ok / predictions.length;
}

export interface SampleQuality {
  /** Frechet distance of the samples' features to the reference images' features. */
  frechet: number;
  /** Entropy of the predicted-class histogram of the samples (nats). */
  entropy: number;
  n: number;
}

/** Features of reference images, fitted once and reused for many scores. */
export interface Reference {
  mean: Float64Array;
  cov: Float64Array;
  n: number;
}

export async function reference(clf: Classifier, images: Tensor): Promise<Reference> {
  return { ...meanCov((await classify(clf, images)).features), n: images.shape[0] };
}

/** Score images [N, 1, 28, 28] in [-1, 1] against reference (test) images. */
export async function sampleQuality(clf: Classifier, samples: Tensor, ref: Tensor | Reference): Promise<SampleQuality> {
  const r = "mean" in ref ? ref : await reference(clf, ref);
  const s = await classify(clf, samples);
  const a = meanCov(s.features);
  return { frechet: frechetDistance(a.mean, a.cov, r.mean, r.cov), entropy: classEntropy(s.predictions), n: samples.shape[0] };
}

/**
 * The scale of the Frechet distance at sample size n: the floor, n real
 * training images against the reference (what a perfect model scores, since
 * FD is biased upwards at finite n), and the ceiling, n images of uniform
 * noise in [-1, 1]. Print both beside every score.
 */
export async function frechetScale(clf: Classifier, train: Tensor, ref: Reference, n: number, seed = 0): Promise<{ floor: number; ceiling: number; n: number }> {
  const m = Math.min(n, train.shape[0]);
  const real = tensor([m, 1, SIDE, SIDE], train.data.subarray(0, m * 784));
  const rng = new Rng(seed);
  const noise = tensor([m, 1, SIDE, SIDE], Float32Array.from({ length: m * 784 }, () => 2 * rng.uniform() - 1));
  return { floor: (await sampleQuality(clf, real, ref)).frechet, ceiling: (await sampleQuality(clf, noise, ref)).frechet, n: m };
}
