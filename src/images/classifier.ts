import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Tensor } from "../core/tensor.js";
import { decodeSafetensors } from "../train/safetensors.js";

/**
 * A small image classifier trained by the project (bench/train-classifier.ts,
 * weights committed under models/classifier-<data>/), used as a quality
 * metric for samples, FID-style (Heusel et al. 2017) but with this network's
 * features instead of Inception's:
 *   - Frechet distance between Gaussians fitted to the penultimate features
 *     of the samples and of real test images:
 *       FD = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)
 *     (matrix square roots by a symmetric Jacobi eigen-decomposition);
 *   - entropy (nats) of the histogram of predicted classes (ln 10 = 2.303
 *     when all ten classes are equally frequent; low = mode collapse).
 * The network is an MLP on the flattened 28 x 28 image in [-1, 1]:
 *   h1 = silu(x W1 + b1), h2 = silu(h1 W2 + b2) (the features), logits = h2 W3 + b3.
 * Inference runs in plain JS (float64 accumulation): no jax-js needed.
 */
export interface Classifier {
  readonly data: string;
  readonly inputDim: number;
  readonly featureDim: number;
  readonly weights: Record<"w1" | "b1" | "w2" | "b2" | "w3" | "b3", Float32Array>;
  readonly dims: [number, number, number, number];
}

export const CLASSIFIER_KEYS = ["w1", "b1", "w2", "b2", "w3", "b3"] as const;

/** models/ at the package root (works from src/ under tsx and from dist/src/). */
export function modelsDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, "models"))) return join(dir, "models");
    dir = dirname(dir);
  }
  throw new Error("classifier: cannot find the models/ folder of the udm package");
}

export function classifierFromWeights(data: string, w: Record<string, Tensor>): Classifier {
  for (const k of CLASSIFIER_KEYS) if (!w[k]) throw new Error(`classifier(${data}): weights lack "${k}"`);
  const [d0, d1] = w.w1.shape, [, d2] = w.w2.shape, [, d3] = w.w3.shape;
  if (w.w2.shape[0] !== d1 || w.w3.shape[0] !== d2) throw new Error(`classifier(${data}): layer shapes do not chain: ${[w.w1.shape, w.w2.shape, w.w3.shape].map((s) => `[${s}]`).join(" ")}`);
  return {
    data,
    inputDim: d0,
    featureDim: d2,
    dims: [d0, d1, d2, d3],
    weights: Object.fromEntries(CLASSIFIER_KEYS.map((k) => [k, w[k].data])) as Classifier["weights"],
  };
}

/** Load models/classifier-<data>/weights.safetensors ("mnist" or "fashion"). */
export function loadClassifier(data: string, dir?: string): Classifier {
  const folder = dir ?? join(modelsDir(), `classifier-${data}`);
  const file = join(folder, "weights.safetensors");
  if (!existsSync(file)) throw new Error(`classifier: no weights for "${data}" at ${file} (train them with bench/train-classifier.ts ${data})`);
  return classifierFromWeights(data, decodeSafetensors(readFileSync(file), file).tensors);
}

const silu = (v: number) => v / (1 + Math.exp(-v));

function layer(x: Float64Array, w: Float32Array, b: Float32Array, nIn: number, nOut: number, act: boolean): Float64Array {
  const out = new Float64Array(nOut);
  for (let j = 0; j < nOut; j++) out[j] = b[j];
  for (let i = 0; i < nIn; i++) {
    const xi = x[i];
    if (xi === 0) continue;
    for (let j = 0; j < nOut; j++) out[j] += xi * w[i * nOut + j];
  }
  if (act) for (let j = 0; j < nOut; j++) out[j] = silu(out[j]);
  return out;
}

/** Penultimate features [N, featureDim] and predicted classes of a batch [N, 1, 28, 28] (row-major). */
export function classify(clf: Classifier, images: Tensor): { features: Float64Array[]; predictions: Uint8Array } {
  const N = images.shape[0];
  const d = images.data.length / N;
  if (d !== clf.inputDim) throw new Error(`classifier(${clf.data}): images have ${d} values each ([${images.shape.join(", ")}]), the classifier expects ${clf.inputDim}`);
  const [d0, d1, d2, d3] = clf.dims;
  const { w1, b1, w2, b2, w3, b3 } = clf.weights;
  const features: Float64Array[] = [];
  const predictions = new Uint8Array(N);
  for (let n = 0; n < N; n++) {
    const x = Float64Array.from(images.data.subarray(n * d, n * d + d));
    const h2 = layer(layer(x, w1, b1, d0, d1, true), w2, b2, d1, d2, true);
    const logits = layer(h2, w3, b3, d2, d3, false);
    let best = 0;
    for (let k = 1; k < d3; k++) if (logits[k] > logits[best]) best = k;
    features.push(h2);
    predictions[n] = best;
  }
  return { features, predictions };
}

export function accuracy(clf: Classifier, images: Tensor, labels: ArrayLike<number>): number {
  const { predictions } = classify(clf, images);
  let ok = 0;
  for (let i = 0; i < predictions.length; i++) if (predictions[i] === labels[i]) ok++;
  return ok / predictions.length;
}

/** Mean and (unbiased) covariance of row vectors. */
export function meanCov(rows: readonly Float64Array[]): { mean: Float64Array; cov: Float64Array } {
  const n = rows.length, d = rows[0].length;
  if (n < 2) throw new Error(`meanCov: needs at least 2 rows, got ${n}`);
  const mean = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += r[j] / n;
  const cov = new Float64Array(d * d);
  for (const r of rows) {
    for (let i = 0; i < d; i++) {
      const di = r[i] - mean[i];
      for (let j = i; j < d; j++) cov[i * d + j] += (di * (r[j] - mean[j])) / (n - 1);
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[i * d + j] = cov[j * d + i];
  return { mean, cov };
}

/**
 * Eigen-decomposition of a symmetric d x d matrix by cyclic Jacobi rotations:
 * A = V diag(values) V^T, V's columns the eigenvectors.
 */
export function symmetricEigen(a: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(a);
  const V = new Float64Array(d * d);
  for (let i = 0; i < d; i++) V[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, total = 0;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) (i === j ? (total += A[i * d + j] ** 2) : (off += A[i * d + j] ** 2));
    if (off <= 1e-22 * (total + off) || off < 1e-300) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = A[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * d + q] - A[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = A[k * d + p], akq = A[k * d + q];
          A[k * d + p] = c * akp - s * akq;
          A[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = A[p * d + k], aqk = A[q * d + k];
          A[p * d + k] = c * apk - s * aqk;
          A[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = V[k * d + p], vkq = V[k * d + q];
          V[k * d + p] = c * vkp - s * vkq;
          V[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: d }, (_, i) => A[i * d + i]), vectors: V };
}

/** Square root of a symmetric positive semi-definite matrix (negative eigenvalues from rounding clipped to 0). */
export function sqrtPsd(a: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const s = Math.sqrt(Math.max(values[k], 0));
    if (s === 0) continue;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) out[i * d + j] += vectors[i * d + k] * s * vectors[j * d + k];
  }
  return out;
}

function matmul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) {
    const aik = a[i * d + k];
    for (let j = 0; j < d; j++) out[i * d + j] += aik * b[k * d + j];
  }
  return out;
}

/** Frechet distance between N(mu1, S1) and N(mu2, S2). */
export function frechetDistance(mu1: Float64Array, s1: Float64Array, mu2: Float64Array, s2: Float64Array): number {
  const d = mu1.length;
  let fd = 0;
  for (let i = 0; i < d; i++) fd += (mu1[i] - mu2[i]) ** 2;
  const r1 = sqrtPsd(s1, d);
  const cross = sqrtPsd(matmul(matmul(r1, s2, d), r1, d), d);
  for (let i = 0; i < d; i++) fd += s1[i * d + i] + s2[i * d + i] - 2 * cross[i * d + i];
  return Math.max(fd, 0);
}

/** Entropy (nats) of the histogram of classes. */
export function classEntropy(predictions: ArrayLike<number>, classes = 10): number {
  const counts = new Float64Array(classes);
  for (let i = 0; i < predictions.length; i++) counts[predictions[i]]++;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / predictions.length) * Math.log(c / predictions.length);
  return h;
}

export interface SampleQuality {
  /** Frechet distance of the samples' features to the reference images' features. */
  frechet: number;
  /** Entropy of the predicted-class histogram of the samples (nats). */
  entropy: number;
  n: number;
}

/** Score images [N, 1, 28, 28] in [-1, 1] against reference (test) images. */
export async function sampleQuality(clf: Classifier, samples: Tensor, reference: Tensor): Promise<SampleQuality> {
  const s = classify(clf, samples);
  const r = classify(clf, reference);
  const a = meanCov(s.features), b = meanCov(r.features);
  return { frechet: frechetDistance(a.mean, a.cov, b.mean, b.cov), entropy: classEntropy(s.predictions), n: samples.shape[0] };
}
