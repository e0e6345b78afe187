import { test } from "node:test";
import assert from "node:assert/strict";
import { init, jit, numpy as np, type Array as JArray } from "@jax-js/jax";
import { adamInit, adamScalars, adamUpdate, emaUpdate, type AdamConfig } from "../src/train/adam.js";
import type { Params } from "../src/train/types.js";
import { Rng } from "../src/core/rng.js";

await init("wasm");

// Kingma & Ba (2015), Algorithm 1, written out independently in float64.
function adamReference(cfg: AdamConfig, p0: number[], grads: number[][], lrs: number[]): number[][] {
  const p = [...p0];
  const m = p0.map(() => 0);
  const v = p0.map(() => 0);
  const trail: number[][] = [];
  grads.forEach((g, i) => {
    const t = i + 1;
    for (let j = 0; j < p.length; j++) {
      m[j] = cfg.beta1 * m[j] + (1 - cfg.beta1) * g[j];
      v[j] = cfg.beta2 * v[j] + (1 - cfg.beta2) * g[j] * g[j];
      const mHat = m[j] / (1 - cfg.beta1 ** t);
      const vHat = v[j] / (1 - cfg.beta2 ** t);
      p[j] -= (lrs[i] * mHat) / (Math.sqrt(vHat) + cfg.eps);
    }
    trail.push([...p]);
  });
  return trail;
}

const arr = (x: number[], shape: number[]) => np.array(new Float32Array(x)).reshape(shape);
const read = async (a: JArray) => Array.from(await a.data() as Float32Array);

for (const cfg of [
  { beta1: 0.9, beta2: 0.999, eps: 1e-8 },
  { beta1: 0.5, beta2: 0.9, eps: 1e-3 },
]) {
  test(`adam matches Kingma & Ba's update over 6 steps (b1 ${cfg.beta1}, b2 ${cfg.beta2}, eps ${cfg.eps})`, async () => {
    const rng = new Rng(3);
    const n = 7;
    const p0 = Array.from({ length: n }, () => rng.normal());
    // Gradients of varied sign and scale, including a zero and a tiny one.
    const grads = Array.from({ length: 6 }, (_, s) => Array.from({ length: n }, (_, j) => (j === 0 ? 0 : j === 1 ? 1e-6 : rng.normal() * 10 ** (s % 3 - 1))));
    const lrs = [1e-2, 5e-3, 2e-2, 1e-2, 1e-3, 3e-2];
    const expect = adamReference(cfg, p0, grads, lrs);

    const step = jit((p: Params, g: Params, m: Params, v: Params, lr: JArray, c1: JArray, c2: JArray) => {
      const u = adamUpdate(cfg, p, g, m, v, lr, c1, c2);
      return [u.params, u.m, u.v] as [Params, Params, Params];
    });
    let params: Params = { w: arr(p0.slice(0, 4), [2, 2]), b: arr(p0.slice(4), [3]) };
    let { m, v } = adamInit(params);
    for (let i = 0; i < grads.length; i++) {
      const g: Params = { w: arr(grads[i].slice(0, 4), [2, 2]), b: arr(grads[i].slice(4), [3]) };
      const [lr, c1, c2] = adamScalars(cfg, lrs[i], i + 1);
      [params, m, v] = step(params, g, m, v, lr, c1, c2);
      const got = [...(await read(params.w.ref)), ...(await read(params.b.ref))];
      for (let j = 0; j < n; j++) {
        assert.ok(Math.abs(got[j] - expect[i][j]) < 1e-5, `step ${i + 1}, weight ${j}: got ${got[j]}, Adam gives ${expect[i][j]}`);
      }
      // The update must actually move the weights (guards a no-op implementation).
      if (i === 0) assert.ok(Math.abs(got[3] - p0[3]) > 1e-4);
    }
    step.dispose();
  });
}

test("adamScalars are the bias corrections 1/(1 - b^k)", () => {
  const [lr, c1, c2] = adamScalars({ beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 0.1, 3);
  assert.equal(lr, 0.1);
  assert.ok(Math.abs(c1 - 1 / (1 - 0.729)) < 1e-12);
  assert.ok(Math.abs(c2 - 1 / (1 - 0.999 ** 3)) < 1e-12);
  assert.throws(() => adamScalars({ beta1: 0.9, beta2: 0.999, eps: 1e-8 }, 0.1, 0), /step must be an integer >= 1/);
});

test("EMA follows ema = d ema + (1 - d) p over several updates", async () => {
  const rng = new Rng(5);
  const e0 = Array.from({ length: 5 }, () => rng.normal());
  let ema: Params = { a: arr(e0, [5]) };
  const expect = [...e0];
  const decays = [0.9, 0.99, 0.5, 0];
  for (const d of decays) {
    const p = Array.from({ length: 5 }, () => rng.normal());
    for (let j = 0; j < 5; j++) expect[j] = d * expect[j] + (1 - d) * p[j];
    ema = emaUpdate(ema, { a: arr(p, [5]) }, np.array(d));
    const got = await read(ema.a.ref);
    for (let j = 0; j < 5; j++) assert.ok(Math.abs(got[j] - expect[j]) < 1e-6, `decay ${d}, weight ${j}: got ${got[j]}, want ${expect[j]}`);
  }
  // decay 0 copies the weights exactly.
  const last = await read(ema.a);
  assert.deepEqual(last, expect.map((x) => Math.fround(x)));
});
