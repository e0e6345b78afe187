import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { uniformGrid } from "../src/core/grid.js";
import { cosine } from "../src/core/schedule.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import type { Process } from "../src/core/process.js";
import { encoderFromRows, encoding, type EncodingProcess } from "../src/processes/encoding.js";
import { chiSquareTest, entropy, enumerable, enumerableDenoiser, exactPosterior, sampleEnumerable, stringCounts, testStrings, twoSampleChiSquare } from "../src/oracles/enumerable.js";
import { encodingNelbo } from "../src/text/encoding-elbo.js";
import { withEmbeddingMean } from "../src/text/encoding.js";
import { sampleDpmSolver2M } from "../src/samplers/dpm-solver.js";
import { sampleHeun } from "../src/samplers/ode.js";

// DESIGN.md "Exactness" for the encoding process: with a FIXED encoder (the
// 3 tokens as 2-D points of norm sqrt(2)) and the 27-string distribution,
// p(x0 | x_t) ∝ p(x0) prod_i N(x_t,i; a E(x0_i), b^2 I) is a finite mixture,
// enumerated exactly. Conventions as test/masking.test.ts: chi-square of 3000
// samples, p > 0.001 passes, a broken step must give p < 1e-6.
const dist = testStrings();
const { V, L } = dist;
const N = 3000;
const angle = (k: number) => Math.PI / 2 + (2 * Math.PI * k) / 3;
const encoder = encoderFromRows([0, 1, 2].map((k) => [Math.SQRT2 * Math.cos(angle(k)), Math.SQRT2 * Math.sin(angle(k))]));
const d = encoder.dim;
const schedule = cosine();
const proc = encoding({ schedule, encoder });
const oracle = enumerableDenoiser(dist, proc);
const exact = withEmbeddingMean(oracle, oracle, encoder);

const fit = (x: Tensor) => chiSquareTest(stringCounts(dist, x), dist.probs);

/** The exact marginal p(x_1) (F_1 of data), then the one sampler with the exact posterior; x_0 = E(x0_hat) decoded. */
async function oracleRun(process: EncodingProcess | Process, r: number, steps: number, seed: number): Promise<Tensor> {
  const rng = new Rng(seed);
  const x1 = process.forward(sampleEnumerable(dist, N, rng), 1, process.noise([N, L], rng));
  return proc.decode(await sample({ process, denoiser: exact, grid: uniformGrid(steps), r, rng, x1 }));
}

test("encoding forward is a E(x0) + b eps, shapes [B, L] -> [B, L, d], and decode inverts x_0 = E(x0)", () => {
  const rng = new Rng(1);
  const x0 = tensor([2, L], [0, 1, 2, 2, 2, 1]);
  const eps = proc.noise(x0.shape, rng);
  assert.deepEqual(eps.shape, [2, L, d]);
  const t = 0.4;
  const xt = proc.forward(x0, t, eps);
  for (let i = 0; i < 2 * L; i++) {
    for (let j = 0; j < d; j++) {
      const want = schedule.a(t) * encoder.table[x0.data[i] * d + j] + schedule.b(t) * eps.data[i * d + j];
      assert.ok(Math.abs(xt.data[i * d + j] - want) < 1e-5);
    }
  }
  assert.deepEqual(Array.from(proc.decode(proc.forward(x0, 0, eps)).data), Array.from(x0.data));
  assert.deepEqual(proc.prior([5, L], rng).shape, [5, L, d]);
  assert.throws(() => proc.forward(tensor([1, L], [0, 3, 1]), t, proc.noise([1, L], rng)), /entry 1 is 3/);
  assert.throws(() => proc.decode(x0), /expects vectors \[B, L, 2\]/);
});

test("the oracle's likelihood is the density of the forward process (its posterior matches forward frequencies)", () => {
  // Draw x0 ~ p, x_t ~ F_t; bin x_t by its exact posterior's most likely string:
  // the x0 in each bin must be distributed as the average posterior there.
  const rng = new Rng(2);
  const n = 4000;
  const t = 0.55;
  const x0 = sampleEnumerable(dist, n, rng);
  const xt = proc.forward(x0, t, proc.noise(x0.shape, rng));
  const counts = new Float64Array(dist.probs.length);
  const expected = new Float64Array(dist.probs.length);
  for (let b = 0; b < n; b++) {
    const post = exactPosterior(dist, proc, xt.data.subarray(b * L * d, (b + 1) * L * d), t);
    post.forEach((p, i) => (expected[i] += p / n));
  }
  stringCounts(dist, x0).forEach((c, i) => (counts[i] = c));
  const res = chiSquareTest(counts, expected);
  assert.ok(res.pValue > 0.001, `chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
});

for (const r of [0, 0.5, 1]) {
  for (const steps of [1, 5, 20]) {
    test(`encoding oracle sampler reproduces the strings: r = ${r}, ${steps} steps`, async () => {
      const res = fit(await oracleRun(proc, r, steps, 500 + steps + 10 * r));
      assert.ok(res.pValue > 0.001, `chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
    });
  }
}

test("a broken kernel is rejected: eps + r xi without the sqrt(1 - r^2) factor", async () => {
  const broken: Process = { ...proc, kernel: (eps, r, rng) => tensor(eps.shape, eps.data.map((e) => e + r * rng.normal())) };
  const res = fit(await oracleRun(broken, 0.5, 20, 41));
  assert.ok(res.pValue < 1e-6, `chi2 ${res.statistic.toFixed(1)}, p = ${res.pValue}: should reject`);
});

// ---- posteriorNoise, directly (DESIGN.md caution 1) ----------------------------

test("encoding posteriorNoise recovers exactly the eps that made x_t", () => {
  const rng = new Rng(5);
  const x0 = sampleEnumerable(dist, 200, rng);
  const eps = proc.noise(x0.shape, rng);
  const t = Float32Array.from({ length: 200 }, (_, i) => 0.02 + (0.98 * i) / 199);
  const back = proc.posteriorNoise(x0, proc.forward(x0, t, eps), t, rng);
  for (let i = 0; i < eps.data.length; i++) assert.ok(Math.abs(back.data[i] - eps.data[i]) < 1e-3 * (1 + Math.abs(eps.data[i])), `eps[${i}] ${back.data[i]} vs ${eps.data[i]}`);
});

/**
 * The law the sampler relies on: with x0_hat ~ p(x0 | x_t) (the exact joint
 * posterior), eps' = posteriorNoise(x0_hat, x_t) must again be N(0, I) and
 * independent of x0_hat. Histogram (x0_hat token, coordinate, bin of eps')
 * against the same histogram of the forward noise (two-sample chi-square).
 */
function posteriorLaw(post: EncodingProcess["posteriorNoise"], t: number, seed: number) {
  const rng = new Rng(seed);
  const n = 3000;
  const x0 = sampleEnumerable(dist, n, rng);
  const eps = proc.noise(x0.shape, rng);
  const xt = proc.forward(x0, t, eps);
  const x0hat = oracle.sample(xt, t, rng) as Tensor;
  const back = post(x0hat, xt, t, rng);
  const edges = [-1.5, -0.75, -0.25, 0.25, 0.75, 1.5];
  const bin = (v: number) => edges.filter((e) => v >= e).length;
  const hist = (ids: Tensor, e: Tensor) => {
    const h = new Float64Array(V * d * (edges.length + 1));
    for (let i = 0; i < n * L; i++) for (let j = 0; j < d; j++) h[(ids.data[i] * d + j) * (edges.length + 1) + bin(e.data[i * d + j])]++;
    return h;
  };
  return twoSampleChiSquare(hist(x0, eps), hist(x0hat, back));
}

test("encoding posteriorNoise given a posterior draw x0_hat has the law of the forward noise", () => {
  for (const t of [0.2, 0.5, 0.8]) {
    const res = posteriorLaw(proc.posteriorNoise, t, 7);
    assert.ok(res.pValue > 0.001, `t = ${t}: chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
  }
});

test("a wrong posteriorNoise is rejected by the direct law test: (x_t - a_t E(x0)) / b_t with a_t left out", () => {
  const broken: EncodingProcess["posteriorNoise"] = (x0, xt, t) => {
    const e = proc.embed(x0);
    const b = schedule.b(t as number);
    return tensor(xt.shape, xt.data.map((v, i) => (v - e.data[i]) / b));
  };
  const res = posteriorLaw(broken, 0.5, 7);
  assert.ok(res.pValue < 1e-6, `chi2 ${res.statistic.toFixed(1)}, p = ${res.pValue}: should reject`);
});

// ---- continuous time: the solvers with the mean E[E(x0) | x_t] ----------------

for (const [name, solver, steps] of [["DPM-Solver++(2M)", sampleDpmSolver2M, 60], ["Heun", sampleHeun, 60]] as const) {
  test(`${name} on the PF-ODE with E[E(x0) | x_t] reproduces the strings (${steps} steps)`, async () => {
    const rng = new Rng(60);
    const x1 = proc.forward(sampleEnumerable(dist, N, rng), 1, proc.noise([N, L], rng));
    const { x } = await solver({ schedule, denoiser: exact, grid: uniformGrid(steps), x1 });
    const res = fit(proc.decode(x));
    assert.ok(res.pValue > 0.001, `chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
  });
}

// ---- the likelihood bound --------------------------------------------------------

test("encoding NELBO with the exact posterior equals the entropy of the data (bits/char)", async () => {
  const data = sampleEnumerable(dist, 6000, new Rng(3));
  const r = await encodingNelbo(oracle, proc, data, { rng: new Rng(4) });
  const h = entropy(dist) / (L * Math.LN2);
  assert.ok(Math.abs(r.bitsPerChar - h) < 4 * r.stderrBits + 0.01, `${r.bitsPerChar} ± ${r.stderrBits} bits/char vs entropy ${h}`);
  assert.ok(r.stderrBits < 0.06, `standard error ${r.stderrBits}`);
});

test("encoding NELBO bounds the model's OWN likelihood: the exact posterior of uniform strings gives log 27 per string", async () => {
  const uniform = enumerableDenoiser(enumerable(V, L, new Array(V ** L).fill(1)), proc);
  const data = sampleEnumerable(dist, 6000, new Rng(5));
  const r = await encodingNelbo(uniform, proc, data, { rng: new Rng(6) });
  const want = Math.log(V ** L) / (L * Math.LN2);
  assert.ok(Math.abs(r.bitsPerChar - want) < 4 * r.stderrBits + 0.01, `${r.bitsPerChar} ± ${r.stderrBits} bits/char vs log2(27)/3 = ${want}`);
  assert.ok(r.bitsPerChar > entropy(dist) / (L * Math.LN2) + 0.1);
});
