import assert from "node:assert/strict";
import { test } from "node:test";
import { init, numpy as np } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { sliceBatch } from "../src/core/tensor.js";
import { mnist } from "../src/data/mnist.js";
import { imageX0Denoiser, maskDenoiser } from "../src/images/denoisers.js";
import { maskedX0Objective, x0Objective } from "../src/images/objectives.js";
import { avgPool2, conv3x3, groupNorm, upsample2 } from "../src/model/conv.js";
import { ParamTaker, paramCount } from "../src/model/layers.js";
import { unet } from "../src/model/unet.js";
import { blurProcess } from "../src/processes/blur.js";
import { pixelMaskProcess } from "../src/processes/pixel-mask.js";
import { train } from "../src/train/train.js";

await init("wasm");

const randn = (n: number, rng: Rng) => Float32Array.from({ length: n }, () => rng.normal());
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

test("im2col 3x3 convolution, group norm, pooling and upsampling equal their definitions", async () => {
  const rng = new Rng(1);
  const [B, H, W, C, O] = [2, 5, 6, 3, 4];
  const x = randn(B * H * W * C, rng), w = randn(9 * C * O, rng), b = randn(O, rng);
  const y = await conv3x3(new ParamTaker({ "c.w": np.array(w).reshape([9 * C, O]), "c.b": np.array(b) }), "c", np.array(x).reshape([B, H, W, C])).data();
  // y[n, i, j, o] = b[o] + sum_{dy, dx, c} x[n, i + dy - 1, j + dx - 1, c] w[(3 dy + dx) C + c, o], zero outside.
  const ref = new Float32Array(B * H * W * O);
  for (let n = 0; n < B; n++) for (let i = 0; i < H; i++) for (let j = 0; j < W; j++) for (let o = 0; o < O; o++) {
    let s = b[o];
    for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) for (let c = 0; c < C; c++) {
      const ii = i + dy - 1, jj = j + dx - 1;
      if (ii >= 0 && ii < H && jj >= 0 && jj < W) s += x[((n * H + ii) * W + jj) * C + c] * w[((3 * dy + dx) * C + c) * O + o];
    }
    ref[((n * H + i) * W + j) * O + o] = s;
  }
  assert.ok(maxDiff(y, ref) < 1e-4);

  // Group norm, 2 groups of 2 channels, then scale/shift.
  const g = randn(B * 2 * 2 * 4, rng);
  const scale = Float32Array.from([1, 2, 3, 4]), shift = Float32Array.from([0, 1, 0, -1]);
  const gn = await groupNorm(new ParamTaker({ "n.scale": np.array(scale), "n.shift": np.array(shift) }), "n", np.array(g).reshape([B, 2, 2, 4]), 2).data();
  for (let n = 0; n < B; n++) for (let grp = 0; grp < 2; grp++) {
    const idx: number[] = [];
    for (let p = 0; p < 4; p++) for (let c = grp * 2; c < grp * 2 + 2; c++) idx.push((n * 4 + p) * 4 + c);
    const mean = idx.reduce((a, k) => a + g[k], 0) / idx.length;
    const v = idx.reduce((a, k) => a + (g[k] - mean) ** 2, 0) / idx.length;
    for (const k of idx) assert.ok(Math.abs(gn[k] - (((g[k] - mean) / Math.sqrt(v + 1e-5)) * scale[k % 4] + shift[k % 4])) < 1e-4);
  }

  const z = randn(1 * 4 * 4 * 2, rng);
  const pooled = await avgPool2(np.array(z).reshape([1, 4, 4, 2])).data();
  assert.ok(Math.abs(pooled[(1 * 2 + 0) * 2 + 1] - (z[(2 * 4 + 0) * 2 + 1] + z[(2 * 4 + 1) * 2 + 1] + z[(3 * 4 + 0) * 2 + 1] + z[(3 * 4 + 1) * 2 + 1]) / 4) < 1e-6);
  const up = await upsample2(np.array(z).reshape([1, 4, 4, 2])).data();
  for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) assert.equal(up[(i * 8 + j) * 2 + 1], z[(Math.floor(i / 2) * 4 + Math.floor(j / 2)) * 2 + 1]);
});

test("UNet: shapes, channel checks, and a few training steps lower the blur and masking losses", async () => {
  const net = unet({ inChannels: 1 });
  assert.equal(paramCount(net.init(0)), 81745);
  const data = sliceBatch(mnist({ limit: 16 }).images, 0, 16);
  const small = unet({ inChannels: 1, channels: [4, 8], attention: true });
  const p = small.init(0);
  const out = small.apply(p, np.array(data.data.slice(0, 2 * 784)).reshape([2, 1, 28, 28]), np.array([0.3, 0.7]));
  assert.deepEqual(out.shape, [2, 1, 28, 28]);
  out.dispose();
  assert.throws(() => unet({ inChannels: 1, channels: [4, 8, 16, 32] }).apply(unet({ inChannels: 1, channels: [4, 8, 16, 32] }).init(0), np.zeros([1, 1, 28, 28]), np.zeros([1])), /must divide by 8/);

  const blur = blurProcess({ data });
  const r1 = await train({ process: blur, network: small, objective: x0Objective("l1"), data, steps: 60, batchSize: 8, lr: 3e-3, seed: 0, emaDecay: 0 });
  const first = r1.losses.slice(0, 5).reduce((a, b) => a + b) / 5, last = r1.losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(last < 0.6 * first, `blur loss ${first} -> ${last}`);
  // The denoiser returns x0_hat in [-1, 1] with the data's shape.
  const den = imageX0Denoiser(small, r1.ema);
  const x0hat = await den.sample(blur.forward(sliceBatch(data, 0, 3), 0.5, blur.noise([3, 1, 28, 28], new Rng(1))), 0.5, new Rng(2));
  assert.deepEqual(x0hat.shape, [3, 1, 28, 28]);
  assert.ok(x0hat.data.every((v) => v >= -1 && v <= 1));
  den.dispose();

  const mask = pixelMaskProcess();
  const mnet = unet({ inChannels: 2, outChannels: 1, channels: [4, 8] });
  const r2 = await train({ process: mask, network: mnet, objective: maskedX0Objective("mse"), data, steps: 40, batchSize: 8, lr: 3e-3, seed: 0, emaDecay: 0 });
  const f2 = r2.losses.slice(0, 5).reduce((a, b) => a + b) / 5, l2 = r2.losses.slice(-5).reduce((a, b) => a + b) / 5;
  assert.ok(l2 < 0.7 * f2, `mask loss ${f2} -> ${l2}`);
  // The masking denoiser copies every visible pixel of x_t.
  const xt = mask.forward(sliceBatch(data, 0, 2), 0.5, mask.noise([2, 1, 28, 28], new Rng(3)));
  const md = maskDenoiser(mnet, r2.ema);
  const m0 = await md.sample(xt, 0.5, new Rng(4));
  for (let b = 0; b < 2; b++) for (let i = 0; i < 784; i++) if (xt.data[(b * 2 + 1) * 784 + i] === 0) assert.equal(m0.data[b * 784 + i], xt.data[b * 2 * 784 + i]);
  md.dispose();
});
