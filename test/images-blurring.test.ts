import assert from "node:assert/strict";
import { test } from "node:test";
import type { Denoiser } from "../src/core/denoiser.js";
import { uniformGrid } from "../src/core/grid.js";
import type { Process } from "../src/core/process.js";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { cosine } from "../src/core/schedule.js";
import { gatherBatch, tensor, type Tensor } from "../src/core/tensor.js";
import { chiSquareTest, stringAt } from "../src/oracles/enumerable.js";
import { imageCounts, sampleImages, testImages } from "../src/oracles/images.js";
import { blurProcess, type BlurProcess } from "../src/processes/blur.js";
import { heatProcess } from "../src/processes/heat.js";
import { levelValue } from "../src/images/levels.js";

// DESIGN.md "Exactness" for blurring diffusion (heat or blur with a noise
// schedule: x_t = a(t) B_t(x0) + b(t) eps): with the exact posterior of an
// enumerable distribution over all 81 images of 2 x 2 pixels and 3 levels,
// the sampler reproduces it for every r and step count (chi-square at fixed
// seeds: a fit passes at p > 0.001; a broken step must give p < 1e-6).
const E = testImages();
const N = 3000;
const schedule = cosine();

/** All 81 images, in the enumeration's order. */
const atoms: Tensor = tensor(
  [E.dist.probs.length, ...E.shape],
  Array.from({ length: E.dist.probs.length }, (_, i) => stringAt(E.levels, E.dist.L, i).map((k) => levelValue(k, E.levels))).flat(),
);

/** q(x0 | x_t) exactly: p(i) N(x_t; a(t) B_t(x_i), b(t)^2 I), normalised over the 81 images; x0_hat is a draw. */
function exactPosterior(process: BlurProcess): Denoiser {
  return {
    sample(xt: Tensor, t: number, rng: Rng): Tensor {
      const n = atoms.shape[0];
      const L = E.dist.L;
      const means = process.forward(atoms, t, tensor(atoms.shape)); // a B_t x_i (zero noise)
      const b = process.noiseSchedule ? process.noiseSchedule.b(t) : process.sigma;
      const picks: number[] = [];
      const logw = new Float64Array(n);
      for (let row = 0; row < xt.shape[0]; row++) {
        let top = -Infinity;
        for (let i = 0; i < n; i++) {
          let d2 = 0;
          for (let j = 0; j < L; j++) d2 += (xt.data[row * L + j] - means.data[i * L + j]) ** 2;
          logw[i] = Math.log(E.dist.probs[i]) - d2 / (2 * b * b);
          top = Math.max(top, logw[i]);
        }
        let z = 0;
        for (let i = 0; i < n; i++) z += (logw[i] = Math.exp(logw[i] - top));
        let u = rng.uniform() * z;
        let pick = n - 1;
        for (let i = 0; i < n; i++) if ((u -= logw[i]) <= 0) { pick = i; break; }
        picks.push(pick);
      }
      return gatherBatch(atoms, picks);
    },
  };
}

async function draw(process: BlurProcess, denoiser: Denoiser, r: number, steps: number, seed: number): Promise<Tensor> {
  const rng = new Rng(seed);
  // The exact p(x_1): F_1 of data (a(1) is 0 only up to rounding).
  const x1 = process.forward(sampleImages(E, N, rng), 1, process.noise([N, ...E.shape], rng));
  return sample({ process, denoiser, grid: uniformGrid(steps), r, rng, x1 });
}

const fit = (x: Tensor) => chiSquareTest(imageCounts(E, x), E.dist.probs);

test("blurring diffusion: x_t = a(t) B_t(x0) + b(t) eps, its posterior noise inverts it, and sigma and a schedule exclude each other", () => {
  const p = heatProcess({ noiseSchedule: schedule });
  assert.equal(p.name, `heat(noise=${schedule.name})`);
  const rng = new Rng(1);
  const x0 = sampleImages(E, 5, rng);
  const t = Float32Array.from([0, 0.2, 0.5, 0.8, 1]);
  const eps = p.noise(x0.shape, rng);
  const xt = p.forward(x0, t, eps);
  const blurred = p.blur(x0, t);
  for (let row = 0; row < 5; row++) {
    for (let j = 0; j < 4; j++) {
      const want = schedule.a(t[row]) * blurred.data[row * 4 + j] + schedule.b(t[row]) * eps.data[row * 4 + j];
      assert.ok(Math.abs(xt.data[row * 4 + j] - want) < 1e-6);
    }
  }
  // Rows at t > 0 (b(0) = 0: x_0 holds no noise to recover).
  const back = p.posteriorNoise(x0, xt, t, rng);
  for (let i = 4; i < 20; i++) assert.ok(Math.abs(back.data[i] - eps.data[i]) < 1e-4, `eps ${i}: ${back.data[i]} vs ${eps.data[i]}`);
  assert.throws(() => blurProcess({ sigma: 0.05, noiseSchedule: schedule }), /sigma or a noise schedule/);
});

for (const [name, make] of [["heat", heatProcess], ["blur", blurProcess]] as const) {
  for (const r of [0, 0.5, 1]) {
    for (const steps of [4, 20]) {
      if (name === "blur" && steps === 4) continue;
      test(`blurring diffusion (${name} + cosine noise): the exact-posterior sampler reproduces p over the 81 images, r = ${r}, ${steps} steps`, async () => {
        const p = make({ noiseSchedule: schedule });
        const res = fit(await draw(p, exactPosterior(p), r, steps, 40 + steps + 100 * r));
        assert.ok(res.pValue > 0.001, `chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
      });
    }
  }
}

test("blurring diffusion: a broken step is rejected (posterior noise without the a(t) on B_t(x0))", async () => {
  const good = heatProcess({ noiseSchedule: schedule });
  const broken: BlurProcess = {
    ...good,
    posteriorNoise: (x0, xt, t) => {
      const b = good.blur(x0, t);
      const s = typeof t === "number" ? t : t[0];
      return tensor(xt.shape, xt.data.map((v, i) => (v - b.data[i]) / schedule.b(s)));
    },
  } as BlurProcess & Process<Tensor, Tensor>;
  const res = fit(await draw(broken, exactPosterior(good), 0, 20, 77));
  assert.ok(res.pValue < 1e-6, `a posterior noise that forgets a(t) should be rejected, p = ${res.pValue}`);
});
