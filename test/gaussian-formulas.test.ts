import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../src/core/rng.js";
import { correct } from "../src/core/sampler.js";
import { linearBeta, cosine } from "../src/core/schedule.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { gaussian } from "../src/processes/gaussian.js";
import { applyPreset, estimateSbar } from "../src/samplers/presets.js";
import { pointMass } from "../src/core/denoiser.js";
import { mixtureDenoiser, sampleMixture, testMixture2d } from "../src/oracles/mixture.js";

// DESIGN.md section 4: DDPM, DDIM(eta) and Analytic-DPM are settings of the
// generic sampler. Each published update is written out here from the papers'
// own quantities (betas, alphas_cumprod), independently of src/.

const T = 1000;
const betas = Array.from({ length: T }, (_, i) => 1e-4 + ((0.02 - 1e-4) * i) / (T - 1));
const alphaBar: number[] = [1]; // alphaBar[k] = prod_{i<=k} (1 - beta_i), alphaBar[0] = 1
for (let k = 1; k <= T; k++) alphaBar.push(alphaBar[k - 1] * (1 - betas[k - 1]));

/** An Rng whose normal draws are scripted (so one step's noise is known). */
class ScriptedRng extends Rng {
  constructor(private draws: number[]) {
    super(0);
  }
  override normal(): number {
    const v = this.draws.shift();
    if (v === undefined) throw new Error("scripted rng exhausted");
    return v;
  }
}

const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) <= 1e-5 * (1 + Math.abs(b)), `${what}: ${a} vs ${b}`);

const xt = tensor([1, 3], [0.3, -1.2, 2.0]);
const x0hat = tensor([1, 3], [0.5, -0.4, 1.1]);
const process = gaussian(linearBeta());

function genericStep(preset: Parameters<typeof applyPreset>[1], n: number, k: number, z: number[]): Tensor {
  const { r } = applyPreset(process, preset, pointMass(() => x0hat));
  const t = n / T, s = k / T;
  const rv = typeof r === "number" ? r : r(t, s);
  return correct(process, x0hat, xt, t, s, rv, new ScriptedRng(z));
}

test("schedule: linearBeta equals DDPM's alphas_cumprod on the grid", () => {
  for (const k of [0, 1, 10, 500, 999, 1000]) close(process.schedule.a(k / T) ** 2, alphaBar[k], `alphaBar[${k}]`);
});

for (const n of [600, 50, 2]) test(`one DDPM step ${n} -> ${n - 1} equals Ho et al. (2020) Algorithm 2`, () => {
  const z = [0.7, -1.1, 0.25];
  const out = genericStep({ name: "ddpm" }, n, n - 1, [...z]);
  const alpha = 1 - betas[n - 1];
  const ab = alphaBar[n], abPrev = alphaBar[n - 1];
  const sigma = Math.sqrt(((1 - abPrev) / (1 - ab)) * betas[n - 1]); // beta-tilde
  for (let i = 0; i < 3; i++) {
    const eps = (xt.data[i] - Math.sqrt(ab) * x0hat.data[i]) / Math.sqrt(1 - ab);
    const expected = (1 / Math.sqrt(alpha)) * (xt.data[i] - ((1 - alpha) / Math.sqrt(1 - ab)) * eps) + sigma * z[i];
    close(out.data[i], expected, `x_{t-1}[${i}]`);
  }
});

for (const eta of [0, 0.3, 1]) {
  test(`one DDIM(eta = ${eta}) step, skipping 600 -> 450, equals Song et al. (2021) eq. 12`, () => {
    const n = 600, k = 450;
    const z = [-0.4, 1.3, 0.05];
    const out = genericStep({ name: "ddim", eta }, n, k, [...z]);
    const ab = alphaBar[n], abPrev = alphaBar[k];
    const sigma = eta * Math.sqrt((1 - abPrev) / (1 - ab)) * Math.sqrt(1 - ab / abPrev);
    for (let i = 0; i < 3; i++) {
      const eps = (xt.data[i] - Math.sqrt(ab) * x0hat.data[i]) / Math.sqrt(1 - ab);
      const expected = Math.sqrt(abPrev) * x0hat.data[i] + Math.sqrt(1 - abPrev - sigma * sigma) * eps + sigma * z[i];
      close(out.data[i], expected, `x_s[${i}]`);
    }
  });
}

test("one Analytic-DPM step has Bao et al. (2022) Theorem 1's mean and optimal variance", async () => {
  // Given E||eps_theta||^2 / d = gamma, Analytic-DPM's step (DDPM family,
  // lambda^2 = beta-tilde) is Gaussian with the DDIM mean and variance
  // lambda^2 + (sqrt(betaBar_n / alpha_n) - sqrt(betaBar_{n-1} - lambda^2))^2 (1 - gamma).
  const gamma = 0.83;
  for (const [n, k] of [[600, 599], [600, 450], [50, 10]]) {
    const ab = alphaBar[n], abPrev = alphaBar[k];
    const alphaN = ab / abPrev; // the step's own alpha when skipping
    const lambda2 = ((1 - abPrev) / (1 - ab)) * (1 - alphaN);
    const variance = lambda2 + (Math.sqrt((1 - ab) / alphaN) - Math.sqrt(1 - abPrev - lambda2)) ** 2 * (1 - gamma);
    // The library's sbar_t from the same gamma (what estimateSbar computes).
    const sbar = Math.sqrt(((1 - ab) / ab) * (1 - gamma));
    const { r, denoiser } = applyPreset(process, { name: "analytic-dpm", sbar: () => sbar }, pointMass(() => x0hat));
    const t = n / T, s = k / T;
    const rv = typeof r === "number" ? r : r(t, s);
    const step = async (zx0: number, xi: number) => {
      const d = 3;
      const rng = new ScriptedRng([...Array(d).fill(zx0), ...Array(d).fill(xi)]);
      const x0 = await denoiser.sample(xt, t, rng);
      return correct(process, x0, xt, t, s, rv, rng);
    };
    const mean = await step(0, 0), cz = await step(1, 0), cxi = await step(0, 1);
    for (let i = 0; i < 3; i++) {
      const eps = (xt.data[i] - Math.sqrt(ab) * x0hat.data[i]) / Math.sqrt(1 - ab);
      close(mean.data[i], Math.sqrt(abPrev) * x0hat.data[i] + Math.sqrt(1 - abPrev - lambda2) * eps, `mean[${i}] (${n}->${k})`);
      const a = cz.data[i] - mean.data[i], b = cxi.data[i] - mean.data[i];
      close(a * a + b * b, variance, `variance[${i}] (${n}->${k})`);
    }
  }
});

test("estimateSbar computes (b^2/a^2)(1 - E||eps_hat||^2/d) from the denoiser's mean", async () => {
  const schedule = cosine();
  const mix = testMixture2d();
  const data = sampleMixture(mix, 400, new Rng(1));
  const mean = mixtureDenoiser(mix, schedule).mean!;
  const times = [0.9, 0.5, 0.1];
  const { sbar } = await estimateSbar(schedule, mean, data, times, new Rng(2));
  // Independent recomputation with the same noise draws.
  const rng = new Rng(2);
  for (const t of times) {
    const a = schedule.a(t), b = schedule.b(t);
    const xt = tensor(data.shape, data.data.map((v) => a * v + b * rng.normal()));
    const m = await mean(xt, t);
    let sq = 0;
    for (let i = 0; i < xt.data.length; i++) sq += ((xt.data[i] - a * m.data[i]) / b) ** 2;
    const expected = Math.sqrt(((b * b) / (a * a)) * (1 - sq / xt.data.length));
    close(sbar(t), expected, `sbar(${t})`);
    assert.ok(sbar(t) > 0, "the exact posterior has spread");
  }
  assert.throws(() => sbar(0.3), /not estimated at t = 0.3/);
});
