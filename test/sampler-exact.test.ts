import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { uniformGrid, makeGrid, checkGrid } from "../src/core/grid.js";
import { cosine, linearBeta, varianceExploding } from "../src/core/schedule.js";
import { gaussian } from "../src/processes/gaussian.js";
import { mixtureDenoiser, sampleMixture, testMixture2d } from "../src/oracles/mixture.js";
import { energyTest } from "../src/metrics/energy.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import type { Process } from "../src/core/process.js";

// DESIGN.md "Exactness": with the exact posterior the sampler reproduces the
// data for every grid and every r. The two-sample energy statistic must stay
// inside its permutation null (fixed seeds, so the test is repeatable).
const mix = testMixture2d();
const N = 600;

async function oracleSamples(process: Process, schedule: Parameters<typeof mixtureDenoiser>[1], r: number, steps: number, seed: number): Promise<Tensor> {
  const rng = new Rng(seed);
  // Exact marginal p(x_1): F_1 of mixture samples (the schedules do not reach pure noise exactly).
  const x1 = process.forward(sampleMixture(mix, N, rng), 1, process.noise([N, 2], rng));
  return sample({ process, denoiser: mixtureDenoiser(mix, schedule), grid: uniformGrid(steps), r, rng, x1 });
}

for (const [label, schedule] of [["cosine VP", cosine()], ["VE", varianceExploding(0.01, 10)]] as const) {
  for (const r of [0, 0.5, 1]) {
    for (const steps of [10, 100]) {
      test(`oracle sampler reproduces the mixture: ${label}, r = ${r}, ${steps} steps`, async () => {
        const process = gaussian(schedule);
        const xs = await oracleSamples(process, schedule, r, steps, 1000 + steps + r * 10);
        const ref = sampleMixture(mix, N, new Rng(7));
        const res = energyTest(xs, ref, 200, 3);
        assert.ok(res.pValue > 0.01, `energy distance ${res.statistic.toFixed(4)} beyond its null (99%: ${res.null99.toFixed(4)}), p = ${res.pValue}`);
      });
    }
  }
}

test("a broken step is detected: kernel without the sqrt(1 - r^2) factor", async () => {
  const schedule = cosine();
  const good = gaussian(schedule);
  const broken: Process = { ...good, kernel: (eps, r, rng) => tensor(eps.shape, eps.data.map((e) => e + r * rng.normal())) };
  const xs = await oracleSamples(broken, schedule, 0.5, 10, 11);
  const res = energyTest(xs, sampleMixture(mix, N, new Rng(7)), 200, 3);
  assert.ok(res.pValue <= 0.01, `a variance-inflating kernel should be rejected, p = ${res.pValue}`);
});

test("a broken step is detected: posterior noise divided by the wrong scale", async () => {
  // A classic slip: eps = (x_t - a_t x0) / b_t computed with a (1 + 0.3) b_t,
  // which shrinks the reused noise. (Flipping eps's sign would NOT be caught:
  // with an exact sampled posterior, -eps has the same joint law with x0.
  // That is why posteriorNoise is also tested directly below.)
  const schedule = cosine();
  const good = gaussian(schedule);
  const broken: Process = { ...good, posteriorNoise: (x0, xt, t, rng) => tensor(x0.shape, good.posteriorNoise(x0, xt, t, rng).data.map((v) => v / 1.3)) };
  const xs = await oracleSamples(broken, schedule, 0, 10, 12);
  const res = energyTest(xs, sampleMixture(mix, N, new Rng(7)), 200, 3);
  assert.ok(res.pValue <= 0.01, `a wrong posterior noise should be rejected, p = ${res.pValue}`);
});

test("Gaussian posteriorNoise recovers exactly the eps that made x_t", () => {
  const rng = new Rng(5);
  for (const schedule of [cosine(), varianceExploding(), linearBeta()]) {
    const p = gaussian(schedule);
    const x0 = sampleMixture(mix, 50, rng);
    const eps = p.noise([50, 2], rng);
    const t = Float32Array.from({ length: 50 }, (_, i) => 0.02 + (0.98 * i) / 49);
    const xt = p.forward(x0, t, eps);
    const back = p.posteriorNoise(x0, xt, t, rng);
    for (let i = 0; i < eps.data.length; i++) assert.ok(Math.abs(back.data[i] - eps.data[i]) < 2e-3 * (1 + Math.abs(eps.data[i])), `${schedule.name}: eps[${i}] ${back.data[i]} vs ${eps.data[i]}`);
  }
});

test("discrete-time DDPM accepts only its own grid points", async () => {
  const proc = gaussian(linearBeta());
  assert.equal(proc.time.kind, "discrete");
  const g = makeGrid("uniform", 10, proc.time);
  assert.deepEqual(g.slice(0, 3), [1, 0.9, 0.8]);
  assert.throws(() => checkGrid([1, 0.12345, 0], proc.time), /not a point of this discrete-time process's grid k\/1000/);
  assert.throws(() => checkGrid([1, 0.5, 0.6, 0]), /strictly decrease/);
  assert.throws(() => checkGrid([0.9, 0]), /start at t = 1/);
  await assert.rejects(
    sample({ process: proc, denoiser: { sample: (x: Tensor) => x }, grid: [1, 0.3333, 0], r: 0, rng: new Rng(0), shape: [1, 2] }),
    /t = 0.3333 is not a point of this discrete-time process's grid k\/1000/,
  );
  const q = makeGrid("quadratic", 50, proc.time);
  checkGrid(q, proc.time);
  assert.ok(q[q.length - 2] < 0.01);
});
