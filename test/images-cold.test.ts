import assert from "node:assert/strict";
import { test } from "node:test";
import type { Process } from "../src/core/process.js";
import { Rng } from "../src/core/rng.js";
import { correct } from "../src/core/sampler.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { blurProcess, COLD_SIGMA } from "../src/processes/blur.js";

/**
 * Cold Diffusion (Bansal et al. 2022) as r = 0 and r = 1 of the blur process.
 * D(x, t) is written here independently of src/processes/blur.ts: the
 * Gaussian blur of the mirrored image, convolved directly.
 *   Algorithm 1 (naive):    x_s = D(x0_hat, s)
 *   Algorithm 2 (improved): x_s = x_t - D(x0_hat, t) + D(x0_hat, s)
 */
function D(x: Tensor, t: number): Float32Array {
  const [B, C, H, W] = x.shape;
  const sigma = 0.5 * ((1 + (3 * Math.max(H, W)) / 0.5) ** t - 1);
  if (sigma === 0) return Float32Array.from(x.data);
  const mirror = (p: number, n: number) => {
    const q = ((p % (2 * n)) + 2 * n) % (2 * n);
    return q < n ? q : 2 * n - 1 - q;
  };
  const R = Math.ceil(12 * sigma);
  const g = (d: number) => Math.exp(-(d * d) / (2 * sigma * sigma));
  let Z = 0;
  for (let d = -R; d <= R; d++) Z += g(d);
  const out = new Float32Array(x.data.length);
  for (let bc = 0; bc < B * C; bc++) {
    const tmp = new Float64Array(H * W);
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        let s = 0;
        for (let d = -R; d <= R; d++) s += g(d) * x.data[bc * H * W + i * W + mirror(j - d, W)];
        tmp[i * W + j] = s / Z;
      }
    }
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        let s = 0;
        for (let d = -R; d <= R; d++) s += g(d) * tmp[mirror(i - d, H) * W + j];
        out[bc * H * W + i * W + j] = s / Z;
      }
    }
  }
  return out;
}

const images = (seed: number): Tensor => {
  const rng = new Rng(seed);
  return tensor([3, 1, 8, 8], Float32Array.from({ length: 192 }, () => rng.uniform() * 2 - 1));
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

function setup(sigma = COLD_SIGMA) {
  const p = blurProcess({ sigma });
  const x0 = images(1);
  const t = 0.7, s = 0.45;
  const xt = p.forward(x0, t, p.noise(x0.shape, new Rng(2)));
  const x0hat = images(3); // any prediction: the update formulas hold for every x0_hat
  return { p, xt, x0hat, t, s };
}

test("blur, r = 0: one step is Cold Diffusion's improved sampler (Algorithm 2), for any sigma", () => {
  for (const sigma of [COLD_SIGMA, 0.1]) {
    const { p, xt, x0hat, t, s } = setup(sigma);
    const ours = correct(p, x0hat, xt, t, s, 0, new Rng(4)).data;
    const dt = D(x0hat, t), ds = D(x0hat, s);
    const alg2 = xt.data.map((v, i) => v - dt[i] + ds[i]);
    assert.ok(maxDiff(ours, alg2) < 1e-5, `sigma ${sigma}: ${maxDiff(ours, alg2)}`);
    // Algorithm 2 is not Algorithm 1 here, so the comparison has teeth.
    assert.ok(maxDiff(alg2, ds) > 0.05);
  }
});

test("blur, r = 1: one step is Cold Diffusion's naive sampler (Algorithm 1) plus fresh sigma-noise", () => {
  const { p, xt, x0hat, t, s } = setup(0.05);
  const ours = correct(p, x0hat, xt, t, s, 1, new Rng(5)).data;
  // The kernel draws xi from the same stream (blur's posterior noise uses no randomness).
  const xi = new Rng(5).normals(ours.length);
  const ds = D(x0hat, s);
  assert.ok(maxDiff(ours, ds.map((v, i) => v + 0.05 * xi[i])) < 1e-5);
  // sigma -> 0 (cold): the step tends to x_s = D(x0_hat, s) itself.
  const cold = setup(1e-6);
  assert.ok(maxDiff(correct(cold.p, cold.x0hat, cold.xt, t, s, 1, new Rng(6)).data, D(cold.x0hat, s)) < 1e-4);
  assert.ok(maxDiff(ours, xt.data.map((v, i) => v - D(x0hat, t)[i] + ds[i])) > 0.05);
});

test("a broken blur posterior (wrong time) or a broken operator breaks the Algorithm 2 equality", () => {
  const { p, xt, x0hat, t, s } = setup();
  const dt = D(x0hat, t), ds = D(x0hat, s);
  const alg2 = xt.data.map((v, i) => v - dt[i] + ds[i]);
  const wrongTime: Process = { ...p, posteriorNoise: (a, b, _tt, r) => p.posteriorNoise(a, b, s, r) };
  assert.ok(maxDiff(correct(wrongTime, x0hat, xt, t, s, 0, new Rng(7)).data, alg2) > 1e-2);
  const tooWide = blurProcess({ sMax: 3 * 8 * 1.5 });
  assert.ok(maxDiff(correct(tooWide, x0hat, xt, t, s, 0, new Rng(7)).data, alg2) > 1e-2);
});
