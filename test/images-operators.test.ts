import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../src/core/rng.js";
import { correct } from "../src/core/sampler.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { applyBlur, blurProcess, type SeparableBlur } from "../src/processes/blur.js";
import { heatOperator, heatProcess } from "../src/processes/heat.js";
import { pixelMaskProcess, unmasked } from "../src/processes/pixel-mask.js";

const randomImages = (shape: number[], seed: number): Tensor => {
  const rng = new Rng(seed);
  return tensor(shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform() * 2 - 1));
};
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
/** Per-image, per-channel mean broadcast back to the image: what B_1 must return. */
function channelMeans(x: Tensor): Float32Array {
  const [B, C, H, W] = x.shape;
  const out = new Float32Array(x.data.length);
  for (let bc = 0; bc < B * C; bc++) {
    let s = 0;
    for (let i = 0; i < H * W; i++) s += x.data[bc * H * W + i];
    out.fill(s / (H * W), bc * H * W, (bc + 1) * H * W);
  }
  return out;
}

for (const [name, process] of [["blur", blurProcess()], ["heat", heatProcess()]] as const) {
  test(`${name}: B_0 is the identity and B_1 keeps only the mean of each channel of each image`, () => {
    const x = randomImages([3, 2, 7, 9], 1);
    assert.ok(maxDiff(process.blur(x, 0).data, x.data) < 1e-6);
    assert.ok(maxDiff(process.blur(x, 1).data, channelMeans(x)) < 1e-6);
    // In between, it is neither (the test can tell the three apart).
    const mid = process.blur(x, 0.5).data;
    assert.ok(maxDiff(mid, x.data) > 0.05 && maxDiff(mid, channelMeans(x)) > 0.01);
    // Blurring keeps the mean at every t.
    assert.ok(maxDiff(channelMeans(tensor(x.shape, mid)), channelMeans(x)) < 1e-5);
  });

  test(`${name}: posterior noise inverts the forward map, and the prior is F_1 of data`, () => {
    const x0 = randomImages([4, 1, 6, 6], 2);
    const rng = new Rng(3);
    const t = Float32Array.from([0.1, 0.4, 0.7, 1]);
    const eps = process.noise(x0.shape, rng);
    const xt = process.forward(x0, t, eps);
    const back = process.posteriorNoise(x0, xt, t, rng);
    assert.ok(maxDiff(back.data, eps.data) < 5e-3); // (x_t - B_t x0) / sigma, sigma = 1e-3, float32 x_t
    const withData = blurProcess({ data: x0, sigma: 0.05 });
    const x1 = withData.prior([2, 1, 6, 6], new Rng(4));
    // Each prior image is some data image's mean plus N(0, 0.05^2) noise.
    const dataMeans = [0, 1, 2, 3].map((n) => channelMeans(x0)[n * 36]);
    for (let n = 0; n < 2; n++) {
      const img = x1.data.subarray(n * 36, (n + 1) * 36);
      const mean = img.reduce((a, b) => a + b, 0) / 36;
      assert.ok(dataMeans.some((m) => Math.abs(m - mean) < 0.05));
      const sd = Math.sqrt(img.reduce((a, b) => a + (b - mean) ** 2, 0) / 35);
      assert.ok(sd > 0.03 && sd < 0.08, `prior noise std ${sd}`);
    }
    assert.throws(() => blurProcess().prior([1, 1, 6, 6], rng), /data-dependent/);
  });
}

/** The 2-D DCT-II written out (no matrices), its inverse, and the heat decay in between. */
function heatByDct(x: Tensor, tau: number): Float32Array {
  const [B, C, H, W] = x.shape;
  const out = new Float32Array(x.data.length);
  const c = (k: number, n: number) => (k === 0 ? Math.sqrt(1 / n) : Math.sqrt(2 / n));
  for (let bc = 0; bc < B * C; bc++) {
    const X = (i: number, j: number) => x.data[bc * H * W + i * W + j];
    const coef: number[][] = [];
    for (let k = 0; k < H; k++) {
      coef.push([]);
      for (let l = 0; l < W; l++) {
        let s = 0;
        for (let i = 0; i < H; i++) {
          for (let j = 0; j < W; j++) s += X(i, j) * Math.cos((Math.PI * k * (2 * i + 1)) / (2 * H)) * Math.cos((Math.PI * l * (2 * j + 1)) / (2 * W));
        }
        const lambda = Math.PI ** 2 * ((k * k) / (H * H) + (l * l) / (W * W));
        coef[k].push(c(k, H) * c(l, W) * s * Math.exp(-lambda * tau));
      }
    }
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        let s = 0;
        for (let k = 0; k < H; k++) {
          for (let l = 0; l < W; l++) s += c(k, H) * c(l, W) * coef[k][l] * Math.cos((Math.PI * k * (2 * i + 1)) / (2 * H)) * Math.cos((Math.PI * l * (2 * j + 1)) / (2 * W));
        }
        out[bc * H * W + i * W + j] = s;
      }
    }
  }
  return out;
}

test("heat: B_t equals scaling the 2-D DCT-II coefficients by exp(-pi^2 (k^2/H^2 + l^2/W^2) tau(t))", () => {
  const x = randomImages([2, 1, 6, 8], 5);
  const op = heatOperator();
  for (const t of [0.2, 0.55, 0.9]) {
    // tau(t) = sigma_B^2 / 2, sigma_B = 0.5 ((1 + sMax / 0.5)^t - 1), sMax = sqrt(80) * 8 / pi.
    const sB = 0.5 * ((1 + (Math.sqrt(80) * 8) / Math.PI / 0.5) ** t - 1);
    const expected = heatByDct(x, (sB * sB) / 2);
    assert.ok(maxDiff(applyBlur(op, x, t).data, expected) < 1e-5, `t = ${t}: ${maxDiff(applyBlur(op, x, t).data, expected)}`);
    // A broken operator (the transposed DCT, i.e. DCT-III in place of DCT-II) is caught.
    const broken: SeparableBlur = {
      name: "broken-heat",
      matrices: (tt, h, w) => {
        const m = op.matrices(tt, h, w);
        const tr = (a: Float64Array, n: number) => Float64Array.from(a, (_, idx) => a[(idx % n) * n + Math.floor(idx / n)]);
        const shift = (a: Float64Array, n: number) => Float64Array.from(a, (_, idx) => a[((Math.floor(idx / n) + 1) % n) * n + (idx % n)]);
        return { ah: tr(shift(m.ah, h), h), aw: m.aw };
      },
    };
    // (Near t = 1 only the mean is left, which the broken operator also keeps.)
    if (t < 0.8) assert.ok(maxDiff(applyBlur(broken, x, t).data, expected) > 1e-2);
  }
});

/** Independent Gaussian blur: convolve the mirrored tiling of each row/column directly. */
function blurByMirroring(x: Tensor, sigma: number): Float32Array {
  const [B, C, H, W] = x.shape;
  const mirror = (p: number, n: number) => {
    const q = ((p % (2 * n)) + 2 * n) % (2 * n);
    return q < n ? q : 2 * n - 1 - q;
  };
  const R = Math.ceil(12 * sigma);
  let Z = 0;
  for (let d = -R; d <= R; d++) Z += Math.exp(-(d * d) / (2 * sigma * sigma));
  const conv1 = (get: (p: number) => number, i: number, n: number) => {
    let s = 0;
    for (let d = -R; d <= R; d++) s += Math.exp(-(d * d) / (2 * sigma * sigma)) * get(mirror(i - d, n));
    return s / Z;
  };
  const out = new Float32Array(x.data.length);
  for (let bc = 0; bc < B * C; bc++) {
    const tmp = new Float64Array(H * W);
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) tmp[i * W + j] = conv1((p) => x.data[bc * H * W + i * W + p], j, W);
    for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) out[bc * H * W + i * W + j] = conv1((p) => tmp[p * W + j], i, H);
  }
  return out;
}

test("blur: B_t is the Gaussian blur (std sigma(t)) of the mirrored image", () => {
  const x = randomImages([2, 2, 5, 7], 6);
  const p = blurProcess();
  for (const t of [0.15, 0.4, 0.7]) {
    const sigma = 0.5 * ((1 + (3 * 7) / 0.5) ** t - 1);
    assert.ok(maxDiff(p.blur(x, t).data, blurByMirroring(x, sigma)) < 1e-5, `t = ${t}`);
    // Off by a little in width is caught.
    assert.ok(maxDiff(p.blur(x, t).data, blurByMirroring(x, sigma * 1.1)) > 1e-3);
  }
});

test("pixel masking: x_t hides whole pixels / patches, the posterior noise keeps every visible pixel", () => {
  for (const patch of [1, 3]) {
    const p = pixelMaskProcess({ patch });
    const x0 = randomImages([64, 2, 8, 7], 7);
    const rng = new Rng(8);
    const t = 0.6, s = 0.35;
    const u = p.noise(x0.shape, rng);
    assert.deepEqual(u.shape, [64, Math.ceil(8 / patch), Math.ceil(7 / patch)]);
    const xt = p.forward(x0, t, u);
    assert.deepEqual(xt.shape, [64, 3, 8, 7]);
    const HW = 56;
    let hidden = 0;
    for (let b = 0; b < 64; b++) {
      for (let i = 0; i < HW; i++) {
        const m = xt.data[(b * 3 + 2) * HW + i];
        const y = Math.floor(i / 7), xx = i % 7;
        assert.equal(m, u.data[(b * u.shape[1] + Math.floor(y / patch)) * u.shape[2] + Math.floor(xx / patch)] < t ? 1 : 0);
        for (let c = 0; c < 2; c++) assert.equal(xt.data[(b * 3 + c) * HW + i], m ? 0 : x0.data[(b * 2 + c) * HW + i]);
        hidden += m;
      }
    }
    if (patch === 1) assert.ok(Math.abs(hidden / (64 * HW) - t) < 0.02);

    // Law of u given (x0, x_t): U[0, m) where hidden, U[m, 1) where visible; it reproduces x_t.
    const post = p.posteriorNoise(x0, xt, t, rng);
    assert.deepEqual([...p.forward(x0, t, post).data], [...xt.data]);
    const hid: number[] = [], vis: number[] = [];
    post.data.forEach((v, k) => (u.data[k] < t ? hid : vis).push(v));
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    const tol = patch === 1 ? 0.01 : 0.03;
    assert.ok(Math.abs(mean(hid) - t / 2) < tol && Math.abs(mean(vis) - (1 + t) / 2) < tol);

    // r = 0 step t -> s: every visible pixel stays visible with its value; hidden ones are
    // revealed with probability (m(t) - m(s)) / m(t) and then show x0_hat.
    // A proper q(x0 | x_t) agrees with x_t where it is visible: x0_hat = x0 there, anything elsewhere.
    const noiseImg = randomImages([64, 2, 8, 7], 9);
    const x0hat = tensor(x0.shape, x0.data.map((v, k) => (xt.data[(Math.floor(k / (2 * HW)) * 3 + 2) * HW + (k % HW)] ? noiseImg.data[k] : v)));
    const xs = correct(p, x0hat, xt, t, s, 0, rng);
    let revealed = 0, wasHidden = 0;
    for (let b = 0; b < 64; b++) {
      for (let i = 0; i < HW; i++) {
        const mt = xt.data[(b * 3 + 2) * HW + i], ms = xs.data[(b * 3 + 2) * HW + i];
        if (mt === 0) {
          assert.equal(ms, 0);
          for (let c = 0; c < 2; c++) assert.equal(xs.data[(b * 3 + c) * HW + i], xt.data[(b * 3 + c) * HW + i]);
        } else {
          wasHidden++;
          if (ms === 0) {
            revealed++;
            for (let c = 0; c < 2; c++) assert.equal(xs.data[(b * 3 + c) * HW + i], x0hat.data[(b * 2 + c) * HW + i]);
          }
        }
      }
    }
    if (patch === 1) assert.ok(Math.abs(revealed / wasHidden - (t - s) / t) < 0.03, `revealed ${revealed / wasHidden}`);

    // A broken posterior (fresh noise, ignoring x_t) loses visible pixels, and this check sees it.
    const broken = { ...p, posteriorNoise: (a: typeof x0, _b: typeof xt, _t: number, r: Rng) => p.noise(a.shape, r) };
    const bad = correct(broken, x0hat, xt, t, s, 0, rng);
    let lost = 0;
    for (let b = 0; b < 64; b++) for (let i = 0; i < HW; i++) if (xt.data[(b * 3 + 2) * HW + i] === 0 && bad.data[(b * 3 + 2) * HW + i] === 1) lost++;
    assert.ok(lost > 10);
  }
});

test("pixel masking: the prior is all hidden and F_0 shows the whole image", () => {
  const p = pixelMaskProcess();
  const x1 = p.prior([2, 1, 4, 4], new Rng(1));
  assert.deepEqual(x1.shape, [2, 2, 4, 4]);
  for (let b = 0; b < 2; b++) for (let i = 0; i < 16; i++) assert.equal(x1.data[(b * 2 + 1) * 16 + i], 1);
  const x0 = randomImages([2, 1, 4, 4], 2);
  const x0back = unmasked(p.forward(x0, 0, p.noise(x0.shape, new Rng(3))));
  assert.deepEqual([...x0back.data], [...x0.data]);
});
