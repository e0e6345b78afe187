import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../src/core/rng.js";
import { cosine, logSnrLinear, varianceExploding } from "../src/core/schedule.js";
import type { Tensor } from "../src/core/tensor.js";
import { mixtureDenoiser, mixtureLogDensity, sampleMixture, testMixture2d, type Mixture } from "../src/oracles/mixture.js";
import { logLikelihood, priorStd } from "../src/likelihood/likelihood.js";
import { drawProbes, exactTrace, hutchinsonTrace } from "../src/likelihood/divergence.js";
import { bitsPerDim, evalNll } from "../src/likelihood/eval.js";

// log p_0(x) through the PF-ODE, checked against closed-form densities.
const mix = testMixture2d();
const x = sampleMixture(mix, 50, new Rng(3));
const exact = mixtureLogDensity(mix, x);

const meanAbs = (p: ArrayLike<number>, q: ArrayLike<number>) => Array.from(p).reduce((s, v, i) => s + Math.abs(v - q[i]), 0) / p.length;

for (const [schedule, tMin] of [[logSnrLinear(), 1e-3], [cosine(), 1e-4], [varianceExploding(), 1e-3]] as const) {
  test(`PF-ODE NLL with the exact divergence matches the closed-form mixture NLL: ${schedule.name}`, async (t) => {
    const res = await logLikelihood({ schedule, denoiser: mixtureDenoiser(mix, schedule), x, tMin });
    const err = meanAbs(res.logp, exact);
    const nll = -res.logp.reduce((a, b) => a + b) / 50, nllExact = -exact.reduce((a, b) => a + b) / 50;
    t.diagnostic(`${schedule.name}, tMin ${tMin}: NLL ${nll.toFixed(4)} vs closed form ${nllExact.toFixed(4)} nats (${bitsPerDim(nll, 2).toFixed(4)} vs ${bitsPerDim(nllExact, 2).toFixed(4)} bits/dim); mean |diff| ${err.toFixed(4)}; ${res.nfe} model calls`);
    // The default prior N(0, (a1^2 + b1^2) I) is nearly the exact p_1 here (VE: 1 + 100 vs the mixture's spread).
    assert.ok(err < 0.05, `mean |log p - exact| = ${err} nats`);
  });
}

test("with the exact prior, the only error left is the ODE's: < 0.002 nats, and a wrong model is caught", async (t) => {
  const schedule = logSnrLinear();
  const oracle = mixtureDenoiser(mix, schedule);
  const prior = (x1: Tensor) => mixtureLogDensity(mix, x1, schedule.a(1), schedule.b(1));
  const res = await logLikelihood({ schedule, denoiser: oracle, x, tMin: 1e-3, priorLogDensity: prior, solver: { kind: "rk45", rtol: 1e-6, atol: 1e-6 } });
  const pTmin = mixtureLogDensity(mix, x, schedule.a(1e-3), schedule.b(1e-3));
  const err = meanAbs(res.logp, pTmin);
  t.diagnostic(`vs log p_tMin: mean |diff| ${err.toExponential(2)} nats; vs data ${meanAbs(res.logp, exact).toExponential(2)}`);
  assert.ok(err < 2e-3, `mean |log p - log p_tMin| = ${err}`);
  // A denoiser of another mixture (means shifted by 0.3) is a different density: the check has power.
  const other: Mixture = { ...mix, means: mix.means.map((m) => m.map((v) => v + 0.3)) };
  const wrong = await logLikelihood({ schedule, denoiser: mixtureDenoiser(other, schedule), x, tMin: 1e-3, priorLogDensity: prior });
  assert.ok(meanAbs(wrong.logp, pTmin) > 0.2, `a wrong model should not match: ${meanAbs(wrong.logp, pTmin)}`);
});

test("fixed-step Heun converges to the same NLL", async () => {
  const schedule = logSnrLinear();
  const oracle = mixtureDenoiser(mix, schedule);
  const errs: number[] = [];
  for (const steps of [10, 40]) {
    const res = await logLikelihood({ schedule, denoiser: oracle, x, tMin: 1e-3, solver: { kind: "heun", steps } });
    errs.push(meanAbs(res.logp, exact));
  }
  assert.ok(errs[1] < 0.02 && errs[1] < errs[0] / 4, `Heun errors at 10 and 40 steps: ${errs}`);
});

test("exact trace matches a closed-form Jacobian; Hutchinson is unbiased and shrinks like 1/sqrt(probes)", async () => {
  // A linear map m(x) = M x row by row, M non-diagonal: tr = trace(M) exactly.
  const M = [[0.7, 0.4, -0.2], [1.1, -0.3, 0.5], [0.2, 0.9, 1.6]];
  const d = 3, n = 2000;
  const map = async (y: Float64Array, rows: number) => {
    const out = new Float64Array(rows * d);
    for (let i = 0; i < rows; i++) for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) out[i * d + r] += M[r][c] * y[i * d + c];
    return out;
  };
  const xs = Float64Array.from({ length: n * d }, (_, i) => Math.sin(i));
  const tr = await exactTrace(map, xs, n, d);
  for (const v of tr) assert.ok(Math.abs(v - 2) < 1e-9, `exact trace ${v} vs 2`);
  for (const kind of ["rademacher", "gaussian"] as const) {
    const sds: number[] = [];
    for (const K of [1, 16]) {
      const est = await hutchinsonTrace(map, xs, n, d, drawProbes(n, d, K, kind, new Rng(K)));
      const m = est.reduce((a, b) => a + b) / n;
      const sd = Math.sqrt(est.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1));
      assert.ok(Math.abs(m - 2) < 4 * sd / Math.sqrt(n), `${kind}, ${K} probes: mean ${m} vs 2 (sd ${sd})`);
      sds.push(sd);
    }
    assert.ok(sds[1] / sds[0] > 0.15 && sds[1] / sds[0] < 0.35, `${kind}: sd ratio 16 vs 1 probes ${sds[1] / sds[0]} (1/4 expected)`);
  }
});

test("Hutchinson NLL agrees with the exact divergence in expectation; more probes, smaller error", async (t) => {
  const schedule = logSnrLinear();
  const oracle = mixtureDenoiser(mix, schedule);
  const base = await logLikelihood({ schedule, denoiser: oracle, x, tMin: 1e-3 });
  const diffs: Record<number, number[]> = { 1: [], 16: [] };
  for (const probes of [1, 16]) {
    for (let seed = 0; seed < 4; seed++) {
      const res = await logLikelihood({ schedule, denoiser: oracle, x, tMin: 1e-3, divergence: { kind: "hutchinson", probes }, rng: new Rng(seed) });
      res.logp.forEach((v, i) => diffs[probes].push(v - base.logp[i]));
    }
  }
  const stats = (v: number[]) => {
    const m = v.reduce((a, b) => a + b) / v.length;
    return { mean: m, mad: v.reduce((a, b) => a + Math.abs(b), 0) / v.length, se: Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1) / v.length) };
  };
  const s1 = stats(diffs[1]), s16 = stats(diffs[16]);
  t.diagnostic(`Hutchinson - exact log p over 4 x 50 solves: 1 probe mean ${s1.mean.toFixed(4)} (se ${s1.se.toFixed(4)}), mean |.| ${s1.mad.toFixed(4)}; 16 probes mean ${s16.mean.toFixed(4)} (se ${s16.se.toFixed(4)}), mean |.| ${s16.mad.toFixed(4)}`);
  assert.ok(Math.abs(s1.mean) < 4 * s1.se && Math.abs(s16.mean) < 4 * s16.se, "Hutchinson should be unbiased");
  assert.ok(s16.mad < s1.mad / 2.5, `16 probes should cut the error ~4x: ${s1.mad} -> ${s16.mad}`);
});

test("high dimension: 16-D Gaussian data, Hutchinson NLL matches the closed form", async (t) => {
  const d = 16, s = 0.5, mu = Array.from({ length: d }, (_, j) => Math.cos(j));
  const schedule = cosine();
  const single: Mixture = { weights: [1], means: [mu], stds: [s] };
  const denoiser = mixtureDenoiser(single, schedule);
  const data = sampleMixture(single, 64, new Rng(9));
  const closed = mixtureLogDensity(single, data);
  // Gaussian probes: unbiased but noisy. The mean's Jacobian is a multiple of I here.
  const g = await logLikelihood({ schedule, denoiser, x: data, tMin: 1e-4, divergence: { kind: "hutchinson", probes: 4, noise: "gaussian" } });
  const diff = Array.from(g.logp, (v, i) => v - closed[i]);
  const m = diff.reduce((a, b) => a + b) / diff.length;
  const se = Math.sqrt(diff.reduce((a, b) => a + (b - m) ** 2, 0) / (diff.length - 1) / diff.length);
  t.diagnostic(`16-D Gaussian, 4 Gaussian probes: log p - closed form = ${m.toFixed(3)} +- ${se.toFixed(3)} nats`);
  assert.ok(Math.abs(m) < 4 * se && se > 0, `Hutchinson bias ${m} (se ${se})`);
  // ... so Rademacher probes (z_i^2 = 1) are exact: the bits/dim must match to ~1e-3.
  const res = await evalNll({ schedule, denoiser, data, tMin: 1e-4, divergence: { kind: "hutchinson", probes: 1 }, batchSize: 32 });
  const closedBpd = bitsPerDim(-closed.reduce((a, b) => a + b) / 64, d);
  t.diagnostic(`16-D Gaussian, 1 Rademacher probe: ${res.bitsPerDim.toFixed(4)} bits/dim vs closed form ${closedBpd.toFixed(4)}`);
  assert.equal(res.n, 64);
  assert.equal(res.d, d);
  assert.ok(Math.abs(res.bitsPerDim - closedBpd) < 2e-3, `bits/dim ${res.bitsPerDim} vs ${closedBpd}`);
});

test("evalNll: dequantization adds -d ln w, bits/dim is nats / (d ln 2), bad options are refused", async () => {
  const schedule = logSnrLinear();
  const oracle = mixtureDenoiser(mix, schedule);
  const plain = await evalNll({ schedule, denoiser: oracle, data: x, batchSize: 25 });
  const closed = -exact.reduce((a, b) => a + b) / 50;
  assert.ok(Math.abs(plain.nll - closed) < 0.01, `${plain.nll} vs ${closed}`);
  assert.ok(Math.abs(plain.bitsPerDim - closed / (2 * Math.LN2)) < 0.01);
  // Tiny bins: the noise barely moves the points, the NLL shifts by -d ln w.
  const w = 1e-4;
  const deq = await evalNll({ schedule, denoiser: oracle, data: x, batchSize: 50, dequantize: { binWidth: w } });
  assert.ok(Math.abs(deq.nll - (plain.nll - 2 * Math.log(w))) < 0.01, `${deq.nll} vs ${plain.nll - 2 * Math.log(w)}`);
  assert.equal(bitsPerDim(2 * Math.LN2 * 3, 2), 3);
  await assert.rejects(evalNll({ schedule, denoiser: oracle, data: x, batchSize: 0 }), /batchSize must be a positive integer, got 0/);
  await assert.rejects(evalNll({ schedule, denoiser: { sample: (y) => y }, data: x }), /has no mean/);
  await assert.rejects(logLikelihood({ schedule, denoiser: oracle, x, tMin: 0 }), /tMin must lie in \(0, 1\), got 0/);
  assert.ok(Math.abs(priorStd(varianceExploding(0.01, 10)) - Math.hypot(1, 10)) < 1e-12);
});
