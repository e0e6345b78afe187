import assert from "node:assert/strict";
import { test } from "node:test";
import type { Denoiser } from "../src/core/denoiser.js";
import { uniformGrid } from "../src/core/grid.js";
import type { Time } from "../src/core/process.js";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { destruction } from "../src/core/schedule.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { mnist } from "../src/data/mnist.js";
import { levelsDenoiser } from "../src/images/denoisers.js";
import { levelIds, levelOf, levelValue, quantise } from "../src/images/levels.js";
import { maskedLevelsObjective } from "../src/images/objectives.js";
import { chiSquareTest } from "../src/oracles/enumerable.js";
import { imageCounts, maskedImageOracle, sampleImages, testImages } from "../src/oracles/images.js";
import { pixelMaskProcess, unmasked, type PixelMaskProcess } from "../src/processes/pixel-mask.js";

// DESIGN.md "Categorical pixels" and "Exactness": pixel masking of images with
// K quantised levels, sampled with the exact posterior of an enumerable
// distribution over all 81 2 x 2 images of 3 levels, must reproduce that
// distribution for every r and step count (chi-square, fixed seeds; a fit
// passes at p > 0.001, a broken step must give p < 1e-6).
const E = testImages();
const K = E.levels;
const N = 3000;
const schedule = destruction.cosine();

async function run(process: PixelMaskProcess, denoiser: Denoiser, r: number, steps: number, seed: number): Promise<Tensor> {
  const rng = new Rng(seed);
  const x = await sample({ process, denoiser, grid: uniformGrid(steps), r, rng, shape: [N, ...E.shape] });
  return unmasked(x);
}

const fit = (x: Tensor) => chiSquareTest(imageCounts(E, x), E.dist.probs);

test("levels: K values evenly over [-1, 1]; MNIST's 8-bit pixels are exactly the 256 levels", () => {
  assert.equal(levelValue(0, 16), -1);
  assert.equal(levelValue(15, 16), 1);
  for (let k = 0; k < 16; k++) assert.equal(levelOf(levelValue(k, 16), 16), k);
  assert.equal(levelOf(-1.7, 4), 0);
  assert.equal(levelOf(3, 4), 3);
  assert.equal(levelOf(0.32, 4), 2); // levels -1, -1/3, 1/3, 1
  const x = mnist({ limit: 20 }).images;
  assert.ok(quantise(x, 256).data.every((v, i) => Math.abs(v - x.data[i]) < 1e-6));
  const ids = levelIds(x, 256);
  assert.ok(ids.data.every((k) => Number.isInteger(k) && k >= 0 && k < 256));
});

test("pixel masking with levels: visible pixels show the nearest level, hidden ones the fill; the objective is the CE over hidden pixels", () => {
  const p = pixelMaskProcess({ levels: 4 });
  assert.equal(p.name, "pixel-mask(patch=1, levels=4)");
  const x0 = tensor([1, 1, 2, 2], [-0.9, 0.2, 0.4, 1]);
  const u = tensor([1, 2, 2], [0.9, 0.1, 0.9, 0.9]);
  const xt = p.forward(x0, 0.5, u);
  assert.deepEqual([...xt.data], [-1, 0, 1 / 3, 1, 0, 1, 0, 0].map(Math.fround));
  const { target, weight } = maskedLevelsObjective(4).target(x0, xt, new Float32Array([0.5]), u);
  assert.deepEqual([...target.data], [0, 2, 2, 3]);
  assert.deepEqual([...weight!.data], [0, 1, 0, 0]);
  assert.equal(maskedLevelsObjective(4).loss, "ce");
});

test("categorical pixels: the posterior noise is U[0, m) on hidden pixels and U[m, 1) on visible ones, and reproduces x_t", () => {
  const p = pixelMaskProcess({ levels: K, schedule });
  const rng = new Rng(3);
  const n = 4000;
  const x0 = sampleImages(E, n, rng);
  for (const t of [0.3, 0.7]) {
    const m = schedule.m(t);
    const xt = p.forward(x0, t, p.noise(x0.shape, rng));
    const u = p.posteriorNoise(x0, xt, t, rng);
    assert.deepEqual([...p.forward(x0, t, u).data], [...xt.data]);
    // Ten equal bins on each side: the conditional law of u is uniform on its interval.
    const bins = [new Float64Array(10), new Float64Array(10)];
    for (let b = 0; b < n; b++) {
      for (let i = 0; i < 4; i++) {
        const hidden = xt.data[b * 8 + 4 + i] === 1;
        const v = u.data[b * 4 + i];
        assert.ok(hidden ? v < m : v >= m, `t = ${t}: u = ${v} on a ${hidden ? "hidden" : "visible"} pixel, m = ${m}`);
        bins[hidden ? 0 : 1][Math.min(9, Math.floor(hidden ? (v / m) * 10 : ((v - m) / (1 - m)) * 10))]++;
      }
    }
    for (const c of bins) {
      const res = chiSquareTest(c, new Array(10).fill(0.1));
      assert.ok(res.pValue > 0.001, `t = ${t}: chi2 ${res.statistic.toFixed(1)}, p = ${res.pValue}`);
    }
  }
  // A broken posterior that reads the image channel instead of the mask channel does not reproduce x_t.
  const broken = pixelMaskProcess({ levels: K, schedule });
  const xt = broken.forward(x0, 0.5, broken.noise(x0.shape, rng));
  const shifted = tensor(xt.shape, xt.data.map((_, i) => xt.data[i % 8 < 4 ? i + 4 : i - 4]));
  const bad = broken.posteriorNoise(x0, shifted, 0.5, rng);
  assert.notDeepEqual([...broken.forward(x0, 0.5, bad).data], [...xt.data]);
});

for (const r of [0, 0.5, 1]) {
  for (const steps of [1, 4, 20]) {
    test(`categorical pixels: the exact-posterior sampler reproduces p over the 81 images, r = ${r}, ${steps} steps`, async () => {
      const p = pixelMaskProcess({ levels: K, schedule });
      const res = fit(await run(p, maskedImageOracle(E, schedule), r, steps, 10 + steps + 100 * r));
      assert.ok(res.pValue > 0.001, `chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
    });
  }
}

test("categorical pixels: a broken step (revealed pixels written transposed) is rejected", async () => {
  const p = pixelMaskProcess({ levels: K, schedule });
  // A layout bug in F_s: pixel (y, x) shows x0_hat's (x, y). The data are not symmetric, so it shows.
  const transpose = (x: Tensor) => tensor(x.shape, x.data.map((_, i) => x.data[(i & ~3) | ((i & 1) << 1) | ((i & 2) >> 1)]));
  const broken: PixelMaskProcess = { ...p, forward: (x0: Tensor, t: Time, u: Tensor) => p.forward(transpose(x0), t, u) };
  for (const r of [0, 1]) {
    const res = fit(await run(broken, maskedImageOracle(E, schedule), r, 4, 7));
    assert.ok(res.pValue < 1e-6, `r = ${r}: p = ${res.pValue}`);
  }
});

test("categorical pixels: per-pixel sampling from exact marginals is exact at r = 0 with fine steps, wrong in one step", async () => {
  const p = pixelMaskProcess({ levels: K, schedule });
  const oracle = maskedImageOracle(E, schedule);
  const factorised = levelsDenoiser((xt, t) => oracle.logits(xt, t), K);
  // Many small steps reveal the pixels about one at a time: the marginals are all that matters.
  const fine = fit(await run(p, factorised, 0, 200, 21));
  assert.ok(fine.pValue > 0.001, `200 steps: chi2 ${fine.statistic.toFixed(1)} (df ${fine.df}), p = ${fine.pValue}`);
  // One step draws all four pixels independently: the correlations are lost, and the test sees it.
  const one = fit(await run(p, factorised, 0, 1, 22));
  assert.ok(one.pValue < 1e-6, `1 step: p = ${one.pValue}`);
});

test("levelsDenoiser: hidden pixels follow the softmax of their logits, visible pixels are copied", async () => {
  const logits = [2, 0, -1, 0.5];
  const n = 4000;
  // One channel, 1 x 2 image: pixel 0 hidden, pixel 1 visible at level value 1/3.
  const xt = tensor([n, 2, 1, 2], Float32Array.from({ length: n * 4 }, (_, i) => [0, 1 / 3, 1, 0][i % 4]));
  const l = tensor([n, 1, 1, 2, 4], Float32Array.from({ length: n * 8 }, (_, i) => logits[i % 4]));
  const x0 = await levelsDenoiser(() => l, 4).sample(xt, 0.5, new Rng(5));
  const counts = new Float64Array(4);
  for (let b = 0; b < n; b++) {
    counts[levelOf(x0.data[b * 2], 4)]++;
    assert.equal(x0.data[b * 2 + 1], Math.fround(1 / 3));
  }
  const z = logits.reduce((a, v) => a + Math.exp(v), 0);
  const res = chiSquareTest(counts, logits.map((v) => Math.exp(v) / z));
  assert.ok(res.pValue > 0.001, `chi2 ${res.statistic.toFixed(1)}, p = ${res.pValue}`);
});
