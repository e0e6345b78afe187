import { test } from "node:test";
import assert from "node:assert/strict";
import { init, tree } from "@jax-js/jax";
import { blockSize, pixelate, poolUp } from "../examples/pixelate.js";
import { Rng, correct, sample, uniformGrid, gatherBatch, mnist, unet, train, x0Objective, imageX0Denoiser, type Tensor, type Denoiser } from "../src/index.js";

// DESIGN.md section 5: a process the library has never heard of (examples/pixelate.ts)
// plugs into the one sampler and into train() unchanged.

await init("wasm");
const data = mnist({ limit: 2 }).images; // two digits with different mean brightness
const proc = pixelate(data);

test("pixelate: posteriorNoise returns the eps that made x_t; B_0 is the identity, B_1 the mean", () => {
  const rng = new Rng(0);
  const eps = proc.noise(data.shape, rng);
  const t = Float32Array.from([0.4, 0.95]);
  const back = proc.posteriorNoise(data, proc.forward(data, t, eps), t, rng);
  for (let i = 0; i < eps.data.length; i += 37) assert.ok(Math.abs(back.data[i] - eps.data[i]) < 1e-2, `eps[${i}]`);
  assert.deepEqual(poolUp(data, () => blockSize(0)).data, data.data);
  const flat = poolUp(data, () => blockSize(1)).data.subarray(0, 784);
  const mean = data.data.subarray(0, 784).reduce((a, b) => a + b, 0) / 784;
  for (const v of flat) assert.ok(Math.abs(v - mean) < 1e-5);
});

test("pixelate: one r = 0 step is Cold Diffusion's x_s = x_t - P_t(x0_hat) + P_s(x0_hat)", () => {
  const rng = new Rng(1);
  const xt = proc.forward(data, 0.7, proc.noise(data.shape, rng));
  const x0hat = gatherBatch(data, [1, 0]); // any guess
  const xs = correct(proc, x0hat, xt, 0.7, 0.3, 0, rng);
  const pt = poolUp(x0hat, () => blockSize(0.7)), ps = poolUp(x0hat, () => blockSize(0.3));
  for (let i = 0; i < xs.data.length; i++) assert.ok(Math.abs(xs.data[i] - (xt.data[i] - pt.data[i] + ps.data[i])) < 1e-4, `pixel ${i}`);
});

test("pixelate with its exact posterior samples the two-image data set in the right proportions (r = 0 and 1)", async () => {
  // p(x0 = image i | x_t) ~ exp(-||x_t - P_t(image i)||^2 / (2 sigma^2)): exact for a two-point data set.
  const exact: Denoiser = {
    sample(xt: Tensor, t: number, rng: Rng) {
      const pooled = poolUp(data, () => blockSize(t));
      const pick: number[] = [];
      for (let b = 0; b < xt.shape[0]; b++) {
        const ll = [0, 1].map((i) => {
          let s = 0;
          for (let j = 0; j < 784; j++) s += (xt.data[b * 784 + j] - pooled.data[i * 784 + j]) ** 2;
          return -s / (2 * 0.01 ** 2);
        });
        const m = Math.max(...ll);
        pick.push(rng.categorical(ll.map((l) => Math.exp(l - m))));
      }
      return gatherBatch(data, pick);
    },
  };
  for (const r of [0, 1]) {
    const n = 400;
    const x = await sample({ process: proc, denoiser: exact, grid: uniformGrid(6), r, rng: new Rng(2 + r), shape: [n, 1, 28, 28] });
    let first = 0;
    for (let b = 0; b < n; b++) {
      const d = [0, 1].map((i) => x.data.subarray(b * 784, b * 784 + 784).reduce((s, v, j) => s + (v - data.data[i * 784 + j]) ** 2, 0));
      assert.ok(Math.min(...d) < 784 * (0.05) ** 2, `sample ${b} is not one of the images`);
      if (d[0] < d[1]) first++;
    }
    // Binomial(400, 1/2): sd 10; 4 sd.
    assert.ok(Math.abs(first - n / 2) < 40, `r = ${r}: ${first} of ${n} samples are image 0`);
  }
});

test("pixelate trains with train() and samples with sample(), nothing else changed", async () => {
  const network = unet({ inChannels: 1, channels: [4, 8], attention: false });
  const run = await train({ process: proc, network, objective: x0Objective("l1"), data: mnist({ limit: 32 }).images, steps: 3, batchSize: 4, seed: 0 });
  assert.ok(run.losses.every(Number.isFinite));
  const denoiser = imageX0Denoiser(network, run.ema);
  const x = await sample({ process: proc, denoiser, grid: uniformGrid(3), r: 0, rng: new Rng(0), shape: [2, 1, 28, 28] });
  assert.deepEqual(x.shape, [2, 1, 28, 28]);
  assert.ok(x.data.every(Number.isFinite));
  denoiser.dispose();
  tree.dispose([run.params, run.ema]);
});
