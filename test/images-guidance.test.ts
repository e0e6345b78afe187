import assert from "node:assert/strict";
import { test } from "node:test";
import { init, numpy as np, tree, type Array as JArray } from "@jax-js/jax";
import type { Denoiser } from "../src/core/denoiser.js";
import { uniformGrid } from "../src/core/grid.js";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { cosine } from "../src/core/schedule.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { maskLevelsDenoiser } from "../src/images/denoisers.js";
import { maskedLevelsObjective } from "../src/images/objectives.js";
import { unet } from "../src/model/unet.js";
import { gaussian } from "../src/processes/gaussian.js";
import { pixelMaskProcess, unmasked } from "../src/processes/pixel-mask.js";
import { gaussianDenoiser, networkForward, type ClassCondition } from "../src/train/network-denoiser.js";
import { gaussianObjective } from "../src/train/objectives.js";
import { batchLabels, train } from "../src/train/train.js";
import type { Network, Params } from "../src/train/types.js";

await init("wasm");

// DESIGN.md "Guidance": a class-conditional network with a null label, and
// classifier-free guidance (1 + w) f(x, c) - w f(x, null) on q(x0 | x_t).

/** 8 x 8 images of four classes: a horizontal bar, a vertical bar, a diagonal, an anti-diagonal, at varying offsets. */
function bars(): { images: Tensor; labels: Float32Array } {
  const imgs: Float32Array[] = [];
  const labels: number[] = [];
  const add = (cls: number, on: (y: number, x: number) => boolean) => {
    imgs.push(Float32Array.from({ length: 64 }, (_, i) => (on(Math.floor(i / 8), i % 8) ? 1 : -1)));
    labels.push(cls);
  };
  for (let k = 1; k < 7; k++) {
    add(0, (y) => y === k);
    add(1, (_, x) => x === k);
  }
  for (let k = -2; k <= 2; k++) {
    add(2, (y, x) => x - y === k);
    add(3, (y, x) => x + y === 7 + k);
  }
  const n = imgs.length;
  // Repeat so an epoch is a few batches; classes 2 and 3 have 5 images, 0 and 1 have 6.
  const reps = 20;
  const data = new Float32Array(reps * n * 64);
  const ids = new Float32Array(reps * n);
  for (let r = 0; r < reps; r++) for (let i = 0; i < n; i++) {
    data.set(imgs[i], (r * n + i) * 64);
    ids[r * n + i] = labels[i];
  }
  return { images: tensor([reps * n, 1, 8, 8], data), labels: ids };
}

const DATA = bars();
const TEMPLATES = Array.from({ length: 22 }, (_, i) => ({ img: DATA.images.data.subarray(i * 64, i * 64 + 64), cls: DATA.labels[i] }));

/** The class of the nearest training image (L2). */
function classify(x: Tensor): number[] {
  return Array.from({ length: x.shape[0] }, (_, b) => {
    let best = -1, bestD = Infinity;
    for (const t of TEMPLATES) {
      let d = 0;
      for (let i = 0; i < 64; i++) d += (x.data[b * 64 + i] - t.img[i]) ** 2;
      if (d < bestD) [best, bestD] = [t.cls, d];
    }
    return best;
  });
}

const share = (x: Tensor, cls: number) => classify(x).filter((c) => c === cls).length / x.shape[0];

test("networkForward: guidance w gives (1 + w) f(x, c) - w f(x, null), label by row, chunk by chunk", async () => {
  // A linear "network" whose output shows the label: x * (1 + t) + 10 * cond.
  const net: Network = {
    name: "probe",
    config: { classes: 3 },
    init: () => ({}),
    apply(_p: Params, x: JArray, t: JArray, cond?: JArray): JArray {
      const [B] = x.shape;
      const c = cond ?? np.full([B], 3);
      return x.mul(t.add(1).reshape([B, 1])).add(c.mul(10).reshape([B, 1]));
    },
  };
  const x = tensor([5, 2], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const plain = await networkForward(net, {})(x, 0.5);
  assert.deepEqual([...plain.data], [...x.data].map((v) => v * 1.5 + 30));
  const labels = Float32Array.from([0, 1, 2, 3, 1]);
  const cond: ClassCondition = { label: labels, classes: 3, guidance: 2 };
  const guided = await networkForward(net, {}, { cond, chunk: 2 })(x, 0.5);
  // (1 + 2) (1.5 x + 10 c) - 2 (1.5 x + 30) = 1.5 x + 30 c - 60
  assert.deepEqual([...guided.data], [...x.data].map((v, i) => 1.5 * v + 30 * labels[Math.floor(i / 2)] - 60));
  const one = await networkForward(net, {}, { cond: { label: 2, classes: 3 } })(x, 0);
  assert.deepEqual([...one.data], [...x.data].map((v) => v + 20));
  assert.throws(() => networkForward(net, {}, { cond: { label: 4, classes: 3 } }), /label 4 is not a class id/);
  assert.throws(() => networkForward(net, {}, { cond: { label: 1, classes: 3, guidance: -1 } }), /guidance/);
  await assert.rejects(networkForward(net, {}, { cond: { label: labels.subarray(0, 3), classes: 3 } })(x, 0.5), /class labels/);
});

test("UNet with classes: the label moves the output, no label is the null label, an unconditional UNet ignores labels", async () => {
  const net = unet({ inChannels: 1, channels: [4, 8], classes: 4 });
  const p = net.init(0);
  // Zero-initialised layers hide the label at init: give every weight a random value.
  const rng = new Rng(1);
  for (const [k, v] of Object.entries(p)) {
    p[k] = np.array(Float32Array.from({ length: v.size }, () => 0.3 * rng.normal())).reshape(v.shape);
    v.dispose();
  }
  const x = np.array(DATA.images.data.slice(0, 3 * 64)).reshape([3, 1, 8, 8]);
  const run = async (cond?: number[]) => (await net.apply(tree.ref(p), x.ref, np.array([0.5, 0.5, 0.5]), cond ? np.array(cond) : undefined).data()) as Float32Array;
  const a = await run([0, 0, 0]), b = await run([1, 1, 1]), nul = await run([4, 4, 4]), none = await run();
  assert.ok(a.some((v, i) => Math.abs(v - b[i]) > 1e-4));
  assert.deepEqual([...none], [...nul]);
  const free = unet({ inChannels: 1, channels: [4, 8] });
  const q = free.init(0);
  assert.equal(q["class.w"], undefined);
  const y1 = (await free.apply(tree.ref(q), x.ref, np.array([0.5, 0.5, 0.5])).data()) as Float32Array;
  const y2 = (await free.apply(q, x, np.array([0.5, 0.5, 0.5]), np.array([1, 2, 3])).data()) as Float32Array;
  assert.deepEqual([...y1], [...y2]);
  tree.dispose(p);
});

test("train with labels: checks them, and drops them to the null label at the asked rate", async () => {
  const probe: Network = {
    name: "probe",
    config: {},
    init: () => ({ w: np.zeros([1]) }),
    apply(p: Params, x: JArray, _t: JArray, cond?: JArray): JArray {
      assert.ok(cond, "the network gets the labels");
      return x.mul(0).add(p.w.reshape([1, 1, 1, 1])).add(cond.reshape([-1, 1, 1, 1]).mul(0));
    },
  };
  const process = gaussian(cosine());
  const base = { process, network: probe, objective: gaussianObjective(process, "x0"), data: DATA.images, steps: 2, batchSize: 4, seed: 0 };
  await assert.rejects(train({ ...base, labels: { ids: DATA.labels.subarray(1), classes: 4, drop: 0.1 } }), /labels for/);
  await assert.rejects(train({ ...base, labels: { ids: DATA.labels.map((v) => v + 1), classes: 4, drop: 0.1 } }), /label 4 of row/);
  await assert.rejects(train({ ...base, labels: { ids: DATA.labels, classes: 4, drop: 1 } }), /drop/);
  const r = await train({ ...base, labels: { ids: DATA.labels, classes: 4, drop: 0.1 } });
  tree.dispose([r.params, r.ema]);
  // The batch labels: each the row's own, or the null id 4 with probability drop.
  const idx = Uint32Array.from({ length: 20000 }, (_, i) => i % DATA.labels.length);
  const got = batchLabels({ ids: DATA.labels, classes: 4, drop: 0.15 }, idx, new Rng(2));
  let nulls = 0;
  got.forEach((c, i) => (c === 4 ? nulls++ : assert.equal(c, DATA.labels[idx[i]])));
  assert.ok(Math.abs(nulls / idx.length - 0.15) < 0.01, `null share ${nulls / idx.length}`);
});

/** Samples [n] of class `label` (4 = null: unconditional), guided with weight w. */
async function draw(make: (cond: ClassCondition) => Denoiser & { dispose(): void }, run: (d: Denoiser, seed: number) => Promise<Tensor>, label: number, w: number, seed: number): Promise<Tensor> {
  const d = make({ label, classes: 4, guidance: w });
  try {
    return await run(d, seed);
  } finally {
    d.dispose();
  }
}

test("class-conditional Gaussian diffusion: guided samples show the asked class far more often than unguided ones", async () => {
  const process = gaussian(cosine());
  const net = unet({ inChannels: 1, channels: [8, 16], classes: 4, attention: false });
  const res = await train({ process, network: net, objective: gaussianObjective(process, "v"), data: DATA.images, labels: { ids: DATA.labels, classes: 4, drop: 0.15 },
    steps: 250, batchSize: 16, lr: 3e-3, warmup: 20, emaDecay: 0.95, seed: 0 });
  const make = (cond: ClassCondition) => gaussianDenoiser(net, res.ema, process, "v", { clip: 1, cond });
  const run = (d: Denoiser, seed: number) => sample({ process, denoiser: d, grid: uniformGrid(20), r: 0, rng: new Rng(seed), shape: [40, 1, 8, 8] });
  for (const cls of [1, 2]) {
    const free = share(await draw(make, run, 4, 0, 10 + cls), cls);
    const guided = share(await draw(make, run, cls, 2, 20 + cls), cls);
    assert.ok(guided >= 0.8 && guided >= free + 0.4, `class ${cls}: guided ${guided}, unguided ${free}`);
  }
  tree.dispose([res.params, res.ema]);
});

test("class-conditional categorical pixel masking: guidance on the logits gives the asked class far more often", async () => {
  const process = pixelMaskProcess({ levels: 4 });
  const net = unet({ inChannels: 2, outChannels: 1, channels: [8, 16], classes: 4, levels: 4, attention: false });
  const res = await train({ process, network: net, objective: maskedLevelsObjective(4), data: DATA.images, labels: { ids: DATA.labels, classes: 4, drop: 0.15 },
    steps: 150, batchSize: 16, lr: 3e-3, warmup: 20, emaDecay: 0.95, seed: 0 });
  const make = (cond: ClassCondition) => maskLevelsDenoiser(net, res.ema, 4, { cond });
  const run = async (d: Denoiser, seed: number) => unmasked(await sample({ process, denoiser: d, grid: uniformGrid(32), r: 0, rng: new Rng(seed), shape: [40, 1, 8, 8] }));
  for (const cls of [0, 3]) {
    const free = share(await draw(make, run, 4, 0, 30 + cls), cls);
    const guided = share(await draw(make, run, cls, 2, 40 + cls), cls);
    assert.ok(guided >= 0.8 && guided >= free + 0.4, `class ${cls}: guided ${guided}, unguided ${free}`);
  }
  tree.dispose([res.params, res.ema]);
});
