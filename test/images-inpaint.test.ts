import assert from "node:assert/strict";
import { test } from "node:test";
import type { Denoiser } from "../src/core/denoiser.js";
import { uniformGrid } from "../src/core/grid.js";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { cosine } from "../src/core/schedule.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { keepVisible } from "../src/images/denoisers.js";
import { inpaint, maskFromImage, regionMask, type Region } from "../src/images/inpaint.js";
import { gaussian } from "../src/processes/gaussian.js";
import { pixelMaskProcess, unmasked } from "../src/processes/pixel-mask.js";

// Two 1 x 4 x 4 images that differ everywhere; the known half (left two columns) identifies A.
const A = Float32Array.from({ length: 16 }, (_, i) => ((i % 4) < 2 ? 0.8 : -0.6));
const Bimg = Float32Array.from({ length: 16 }, (_, i) => ((i % 4) < 2 ? -0.7 : 0.5));
const N = 200;
const knownMask = tensor([1, 1, 4, 4], Float32Array.from({ length: 16 }, (_, i) => ((i % 4) < 2 ? 1 : 0)));
const batchOf = (img: Float32Array) => tensor([N, 1, 4, 4], Float32Array.from({ length: N * 16 }, (_, k) => img[k % 16]));
const isImage = (x: Tensor, b: number, img: Float32Array, C = 1) => img.every((v, i) => Math.abs(x.data[b * C * 16 + i] - v) < 1e-4);
const fractionA = (x: Tensor, C = 1) => Array.from({ length: N }, (_, b) => isImage(x, b, A, C)).filter(Boolean).length / N;

/** Exact q(x0 | x_t) for the two-image data set under x_t = a x0 + b eps: draw A or B by posterior weight. */
function gaussianOracle(a: (t: number) => number, b: (t: number) => number): Denoiser {
  return {
    sample(xt, t, rng) {
      const out = new Float32Array(xt.data.length);
      for (let r = 0; r < xt.shape[0]; r++) {
        let dA = 0, dB = 0;
        for (let i = 0; i < 16; i++) {
          dA += (xt.data[r * 16 + i] - a(t) * A[i]) ** 2;
          dB += (xt.data[r * 16 + i] - a(t) * Bimg[i]) ** 2;
        }
        const logit = (dB - dA) / (2 * b(t) ** 2); // log p(A | x_t) - log p(B | x_t)
        const pA = logit > 30 ? 1 : logit < -30 ? 0 : 1 / (1 + Math.exp(-logit));
        out.set(rng.uniform() < pA ? A : Bimg, r * 16);
      }
      return tensor(xt.shape, out);
    },
  };
}

/** Exact q(x0 | x_t) under pixel masking: uniform over the data images that agree with every visible pixel. */
const maskOracle: Denoiser = {
  sample(xt, _t, rng) {
    const B = xt.shape[0];
    const out = new Float32Array(B * 16);
    for (let r = 0; r < B; r++) {
      const fits = [A, Bimg].filter((img) => img.every((v, i) => xt.data[(r * 2 + 1) * 16 + i] === 1 || Math.abs(xt.data[r * 32 + i] - v) < 1e-6));
      if (fits.length === 0) throw new Error("mask oracle: the visible pixels fit no data image");
      out.set(fits[rng.int(fits.length)], r * 16);
    }
    return keepVisible(tensor([B, 1, 4, 4], out), xt);
  },
};

test("Gaussian inpainting with the exact posterior keeps the known pixels and completes the image it identifies", async () => {
  const sched = cosine();
  const p = gaussian(sched);
  const oracle = gaussianOracle(sched.a, sched.b);
  for (const r of [0, 1]) {
    const out = await inpaint({ process: p, denoiser: oracle, known: batchOf(A), mask: knownMask, grid: uniformGrid(25), r, rng: new Rng(1 + r) });
    // Known pixels come out exactly (F_0 is the identity)...
    for (let b = 0; b < N; b++) for (let i = 0; i < 16; i++) if (knownMask.data[i]) assert.ok(Math.abs(out.data[b * 16 + i] - A[i]) < 1e-5);
    // ...and the unknown half is A's.
    assert.ok(fractionA(out) > 0.97, `r = ${r}: ${fractionA(out)}`);
  }
  // Control: without conditioning the same sampler gives A about half the time.
  const free = await sample({ process: p, denoiser: oracle, grid: uniformGrid(25), r: 1, rng: new Rng(3), shape: [N, 1, 4, 4] });
  const f = fractionA(free);
  assert.ok(f > 0.35 && f < 0.65, `unconditional ${f}`);
});

test("pixel-mask inpainting shows the known pixels from x_1 on and always recovers the identified image", async () => {
  const p = pixelMaskProcess();
  for (const r of [0, 0.5, 1]) {
    const out = await inpaint({ process: p, denoiser: maskOracle, known: batchOf(A), mask: knownMask, grid: uniformGrid(10), r, rng: new Rng(4), revealKnown: true });
    assert.equal(fractionA(unmasked(out)), 1, `r = ${r}`);
  }
  const free = await sample({ process: p, denoiser: maskOracle, grid: uniformGrid(10), r: 0, rng: new Rng(5), shape: [N, 1, 4, 4] });
  const f = fractionA(unmasked(free));
  assert.ok(f > 0.35 && f < 0.65, `unconditional ${f}`);
});

test("named regions hide the half or the centre square; a mask image's light pixels are the ones to fill", () => {
  const hidden = (name: Region) => {
    const m = regionMask(name, 4, 6);
    assert.deepEqual(m.shape, [1, 1, 4, 6]);
    return Array.from({ length: 4 }, (_, y) => Array.from({ length: 6 }, (_, x) => (m.data[y * 6 + x] === 0 ? "#" : ".")).join("")).join("/");
  };
  assert.equal(hidden("left"), "###.../###.../###.../###...");
  assert.equal(hidden("right"), "...###/...###/...###/...###");
  assert.equal(hidden("top"), "######/######/....../......");
  assert.equal(hidden("bottom"), "....../....../######/######");
  // Rows H/4 .. 3H/4, columns W/4 .. 3W/4 (1.5 .. 4.5 here).
  assert.equal(hidden("centre"), "....../..###./..###./......");
  assert.throws(() => regionMask("middle" as Region, 4, 4), /region must be one of left, right, top, bottom, centre/);
  const img = tensor([1, 1, 1, 3], [0.9, -0.9, 0.1]);
  assert.deepEqual([...maskFromImage(img).data], [0, 1, 0]);
});
