import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../src/core/rng.js";
import { sliceBatch, tensor } from "../src/core/tensor.js";
import { fashionMnist, mnist } from "../src/data/mnist.js";
import { init } from "@jax-js/jax";
import { accuracy, frechetScale, loadClassifier, reference, sampleQuality } from "../src/images/classifier.js";
import { classEntropy, frechetDistance, meanCov, sqrtPsd, symmetricEigen } from "../src/images/frechet.js";
import { blurProcess } from "../src/processes/blur.js";
import { FASHION_SLICE } from "./fixtures/paths.js";

test("symmetric Jacobi eigen-decomposition and PSD square root are exact on known matrices", () => {
  // [[2, 1], [1, 2]] has eigenvalues 1 and 3.
  const { values } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
  assert.deepEqual([...values].sort().map((v) => +v.toFixed(12)), [1, 3]);
  // sqrt(A)^2 = A for a random SPD A = M M^T + I.
  const rng = new Rng(1), d = 6;
  const M = Float64Array.from({ length: d * d }, () => rng.normal());
  const A = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
    for (let k = 0; k < d; k++) A[i * d + j] += M[i * d + k] * M[j * d + k];
    if (i === j) A[i * d + j] += 1;
  }
  const R = sqrtPsd(A, d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
    let s = 0;
    for (let k = 0; k < d; k++) s += R[i * d + k] * R[k * d + j];
    assert.ok(Math.abs(s - A[i * d + j]) < 1e-9);
  }
});

test("Frechet distance matches the closed form for diagonal covariances, and the class entropy is exact", () => {
  // Diagonal: FD = |mu1 - mu2|^2 + sum (s1 - s2)^2 with s the standard deviations.
  const mu1 = Float64Array.from([0, 1, 2]), mu2 = Float64Array.from([1, 1, 0]);
  const s1 = [1, 2, 3], s2 = [2, 2, 0.5];
  const diag = (s: number[]) => Float64Array.from({ length: 9 }, (_, k) => (k % 4 === 0 ? s[k / 4] ** 2 : 0));
  const expected = 1 + 0 + 4 + (1 + 0 + 2.5 ** 2);
  assert.ok(Math.abs(frechetDistance(mu1, diag(s1), mu2, diag(s2)) - expected) < 1e-9);
  assert.equal(frechetDistance(mu1, diag(s1), mu1, diag(s1)), 0);
  assert.ok(Math.abs(classEntropy([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) - Math.log(10)) < 1e-12);
  assert.equal(classEntropy([3, 3, 3]), 0);
  assert.ok(Math.abs(classEntropy([0, 0, 1, 1]) - Math.log(2)) < 1e-12);
  const { mean, cov } = meanCov([Float64Array.from([1, 0]), Float64Array.from([3, 2])]);
  assert.deepEqual([...mean], [2, 1]);
  assert.deepEqual([...cov], [2, 2, 2, 2]);
});

test("the committed conv classifiers are accurate, and the metric ranks real images far above blurred or noise images", async () => {
  await init("wasm");
  // The full test sets give >= 99 % (MNIST) and >= 90 % (Fashion-MNIST): models/classifier-*/config.json.
  const test = mnist({ split: "test", limit: 1500 });
  const clf = loadClassifier("mnist");
  const accM = await accuracy(clf, sliceBatch(test.images, 0, 1000), test.labels.subarray(0, 1000));
  assert.ok(accM >= 0.985, `MNIST accuracy ${accM}`); // 0.99 on these 1000
  const fm = fashionMnist({ split: "test", limit: 600, dir: FASHION_SLICE });
  const accF = await accuracy(loadClassifier("fashion"), fm.images, fm.labels);
  assert.ok(accF >= 0.9, `Fashion-MNIST accuracy ${accF}`); // 0.92 on this slice

  const ref = await reference(clf, sliceBatch(test.images, 1000, 1500));
  const real = await sampleQuality(clf, sliceBatch(test.images, 0, 300), ref);
  const blurred = await sampleQuality(clf, blurProcess().blur(sliceBatch(test.images, 0, 300), 0.35), ref);
  const rng = new Rng(2);
  const noise = await sampleQuality(clf, tensor([300, 1, 28, 28], Float32Array.from({ length: 300 * 784 }, () => Math.max(-1, Math.min(1, rng.normal())))), ref);
  // One repeated digit: low class entropy.
  const one = await sampleQuality(clf, tensor([300, 1, 28, 28], Float32Array.from({ length: 300 * 784 }, (_, k) => test.images.data[k % 784])), ref);
  const scale = await frechetScale(clf, mnist({ limit: 300 }).images, ref, 300);
  // Measured: real 15.6, floor 35.7 (n = 300 is small: FD is biased up), blurred 349, noise 532, ceiling 522.
  assert.ok(real.frechet < 0.1 * blurred.frechet, `real ${real.frechet} vs blurred ${blurred.frechet}`);
  assert.ok(scale.floor < 0.15 * blurred.frechet, `floor ${scale.floor} vs blurred ${blurred.frechet}`);
  assert.ok(real.frechet < 0.05 * noise.frechet && scale.floor < 0.1 * scale.ceiling, `real ${real.frechet}, noise ${noise.frechet}, scale ${JSON.stringify(scale)}`);
  assert.ok(real.entropy > 2.1 && one.entropy === 0);
  assert.throws(() => loadClassifier("nope"), /no weights for "nope"/);
});
