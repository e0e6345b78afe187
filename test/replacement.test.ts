import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { makeGrid, uniformGrid } from "../src/core/grid.js";
import { destruction } from "../src/core/schedule.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { replacement, type ReplacementNoise, type ReplacementVariant } from "../src/processes/replacement.js";
import { countedReplacement, type RankNoise } from "../src/processes/counted.js";
import type { TokenProcess } from "../src/processes/tokens.js";
import {
  chiSquareTest,
  enumerableDenoiser,
  sampleEnumerable,
  stringAt,
  stringCounts,
  testStrings,
  twoSampleChiSquare,
} from "../src/oracles/enumerable.js";

// Exactness of replacement diffusion ("uniform" and "different", continuous
// and counted) with the exact posterior of the 27-string test distribution;
// see test/masking.test.ts for the conventions (p > 0.001 passes, a broken
// step must give p < 1e-6).
const dist = testStrings();
const { V, L } = dist;
const N = 3000;
const variants: ReplacementVariant[] = ["uniform", "different"];

async function oracleRun<E>(process: TokenProcess<E>, r: number, steps: number, seed: number): Promise<Tensor> {
  const rng = new Rng(seed);
  // The exact marginal p(x_1): "different" at m(1) = 1 is not uniform noise.
  const x1 = process.forward(sampleEnumerable(dist, N, rng), 1, process.noise([N, L], rng));
  const grid = process.time.kind === "discrete" ? makeGrid("uniform", steps, process.time) : uniformGrid(steps);
  return sample({ process, denoiser: enumerableDenoiser(dist, process), grid, r, rng, x1 });
}

const fit = (x: Tensor) => chiSquareTest(stringCounts(dist, x), dist.probs);

test("replacement likelihoods p(x_t | x0) match the forward processes' frequencies", () => {
  const rng = new Rng(1);
  const n = 20000;
  const x0row = [2, 0, 1];
  const x0 = tensor([n, L], new Float32Array(n * L).map((_, i) => x0row[i % L]));
  const processes: TokenProcess<unknown>[] = variants.flatMap((variant) => [
    replacement({ vocab: V, variant, schedule: destruction.cosine() }) as TokenProcess<unknown>,
    countedReplacement({ vocab: V, length: L, variant }) as TokenProcess<unknown>,
  ]);
  for (const p of processes) {
    for (const t of p.time.kind === "discrete" ? [1 / 3, 2 / 3, 1] : [0.3, 0.8, 1]) {
      const xt = p.forward(x0, t, p.noise([n, L], rng));
      const counts = stringCounts(dist, xt);
      const probs = Array.from(counts, (_, i) => p.likelihood(x0row, stringAt(V, L, i), t));
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-9, `${p.name}: likelihood sums to 1`);
      const res = chiSquareTest(counts, probs);
      assert.ok(res.pValue > 0.001, `${p.name} t = ${t}: chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
    }
  }
});

for (const variant of variants) {
  for (const r of [0, 0.5, 1]) {
    for (const steps of [1, 5, 20]) {
      test(`replacement-${variant} oracle sampler reproduces the strings: r = ${r}, ${steps} steps`, async () => {
        const res = fit(await oracleRun(replacement({ vocab: V, variant, schedule: destruction.cosine() }), r, steps, 300 + steps + 10 * r));
        assert.ok(res.pValue > 0.001, `chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
      });
    }
  }
  for (const r of [0, 0.5, 1]) {
    for (const steps of [1, 3]) {
      test(`counted replacement-${variant} oracle sampler reproduces the strings: r = ${r}, ${steps} steps`, async () => {
        const res = fit(await oracleRun(countedReplacement({ vocab: V, length: L, variant }), r, steps, 400 + steps + 10 * r));
        assert.ok(res.pValue > 0.001, `chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
      });
    }
  }
}

// ---- posteriorNoise, directly ----------------------------------------------

/** Law of (x0_i, x_t,i, bin(u_i), k_i) under the forward noise vs under posteriorNoise. */
function posteriorLaw(p: TokenProcess<ReplacementNoise>, t: number, seed: number) {
  const rng = new Rng(seed);
  const n = 4000;
  const x0 = sampleEnumerable(dist, n, rng);
  const eps = p.noise([n, L], rng);
  const xt = p.forward(x0, t, eps);
  const back = p.posteriorNoise(x0, xt, t, rng);
  const consistent = p.forward(x0, t, back).data.every((v, i) => v === xt.data[i]);
  const bins = 10;
  const hist = (e: ReplacementNoise) => {
    const h = new Float64Array(V * V * bins * V);
    for (let i = 0; i < e.u.data.length; i++) h[((x0.data[i] * V + xt.data[i]) * bins + Math.floor(e.u.data[i] * bins)) * V + e.k.data[i]]++;
    return h;
  };
  return { consistent, res: twoSampleChiSquare(hist(eps), hist(back)) };
}

test("replacement posteriorNoise: reproduces x_t and has the law of the forward noise", () => {
  for (const variant of variants) {
    for (const [sname, schedule] of Object.entries({ linear: destruction.linear(), cosine: destruction.cosine(), logLinear: destruction.logLinear() })) {
      for (const t of [0.25, 0.6, 0.95]) {
        const { consistent, res } = posteriorLaw(replacement({ vocab: V, variant, schedule }), t, 5);
        assert.ok(consistent, `${variant} ${sname} t = ${t}: F_t(x0, posteriorNoise) != x_t`);
        assert.ok(res.pValue > 0.001, `${variant} ${sname} t = ${t}: chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
      }
    }
  }
  // r = 1 corner: "uniform" at m = 1 (every token replaced, some by themselves).
  const { consistent, res } = posteriorLaw(replacement({ vocab: V, variant: "uniform" }), 1, 6);
  assert.ok(consistent && res.pValue > 0.001, `uniform at t = 1: p = ${res.pValue}`);
});

test("a wrong replacement posteriorNoise (forgetting the 1/V of self-replacement) is rejected by the direct law test", () => {
  const good = replacement({ vocab: V, variant: "uniform", schedule: destruction.cosine() });
  const broken: TokenProcess<ReplacementNoise> = {
    ...good,
    posteriorNoise(x0, xt, t, rng) {
      // kept w.p. ∝ 1 - m, self-replaced w.p. ∝ m (should be m / V)
      const mt = good.schedule.m(t as number);
      const e = good.posteriorNoise(x0, xt, t, rng);
      const u = Float32Array.from(e.u.data);
      const k = Float32Array.from(e.k.data);
      for (let i = 0; i < u.length; i++) {
        if (xt.data[i] === x0.data[i] && rng.uniform() < mt) {
          u[i] = mt * rng.uniform();
          k[i] = x0.data[i];
        }
      }
      return { u: tensor(e.u.shape, u), k: tensor(e.k.shape, k) };
    },
  };
  const { consistent, res } = posteriorLaw(broken, 0.6, 5);
  assert.ok(consistent, "consistent with x_t, so only the law test can see it");
  assert.ok(res.pValue < 1e-6, `chi2 ${res.statistic.toFixed(1)}, p = ${res.pValue}: should reject`);
});

test("counted replacement posteriorNoise: reproduces x_t and has the law of the forward noise", () => {
  for (const variant of variants) {
    const p = countedReplacement({ vocab: V, length: L, variant });
    for (const t of [1 / 3, 2 / 3, 1]) {
      const rng = new Rng(8);
      const n = 6000;
      const x0 = sampleEnumerable(dist, n, rng);
      const eps = p.noise([n, L], rng);
      const xt = p.forward(x0, t, eps);
      const back = p.posteriorNoise(x0, xt, t, rng);
      assert.ok(p.forward(x0, t, back).data.every((v, i) => v === xt.data[i]), `${variant} t = ${t}: F_t(x0, eps') != x_t`);
      // Per row: (which positions changed, the ranking); per position: (x0, x_t, rank, k).
      const rowHist = (e: RankNoise) => {
        const h = new Float64Array(2 ** L * L ** L);
        for (let b = 0; b < n; b++) {
          let pat = 0;
          let rk = 0;
          for (let i = 0; i < L; i++) {
            pat = pat * 2 + Number(xt.data[b * L + i] !== x0.data[b * L + i]);
            rk = rk * L + e.rank.data[b * L + i];
          }
          h[pat * L ** L + rk]++;
        }
        return h;
      };
      const posHist = (e: RankNoise) => {
        const h = new Float64Array(V * V * L * V);
        for (let i = 0; i < n * L; i++) h[((x0.data[i] * V + xt.data[i]) * L + e.rank.data[i]) * V + e.k.data[i]]++;
        return h;
      };
      for (const [what, res] of [["rows", twoSampleChiSquare(rowHist(eps), rowHist(back))], ["positions", twoSampleChiSquare(posHist(eps), posHist(back))]] as const) {
        assert.ok(res.pValue > 0.001, `${variant} t = ${t} ${what}: chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
      }
    }
  }
});

// ---- broken steps are caught by the sampling test ---------------------------

test("a broken replacement kernel (codes never draw the last token) is rejected by the sampling test", async () => {
  const good = replacement({ vocab: V, variant: "uniform", schedule: destruction.cosine() });
  const broken: TokenProcess<ReplacementNoise> = {
    ...good,
    kernel(eps, r, rng) {
      const u = Float32Array.from(eps.u.data);
      const k = Float32Array.from(eps.k.data);
      for (let i = 0; i < u.length; i++) {
        if (rng.uniform() < r) {
          u[i] = rng.uniform();
          k[i] = rng.int(V - 1); // off by one: should be rng.int(V)
        }
      }
      return { u: tensor(eps.u.shape, u), k: tensor(eps.k.shape, k) };
    },
  };
  const res = fit(await oracleRun(broken, 0.5, 5, 51));
  assert.ok(res.pValue < 1e-6, `chi2 ${res.statistic.toFixed(1)}, p = ${res.pValue}: should reject`);
});

test("a broken 'different' posteriorNoise (kept tokens given u ~ U[0, 1)) is rejected by the sampling test", async () => {
  const good = replacement({ vocab: V, variant: "different", schedule: destruction.cosine() });
  const broken: TokenProcess<ReplacementNoise> = {
    ...good,
    posteriorNoise(x0, xt, t, rng) {
      const e = good.posteriorNoise(x0, xt, t, rng);
      const u = e.u.data.map((v, i) => (xt.data[i] === x0.data[i] ? rng.uniform() : v));
      return { u: tensor(e.u.shape, u), k: e.k };
    },
  };
  const res = fit(await oracleRun(broken, 0, 5, 52));
  assert.ok(res.pValue < 1e-6, `chi2 ${res.statistic.toFixed(1)}, p = ${res.pValue}: should reject`);
});

test("replacement r = 0 keeps the noise: tokens change only where u crosses m(s), to x0_hat or the same code", () => {
  const p = replacement({ vocab: 7, variant: "different", schedule: destruction.cosine() });
  const rng = new Rng(60);
  const B = 200;
  const x0 = tensor([B, 20], new Float32Array(B * 20).map(() => rng.int(7)));
  const eps = p.noise([B, 20], rng);
  const xt = p.forward(x0, 0.7, eps);
  // With x0_hat = x0 the reused noise is recovered in law; F_s at r = 0 destroys a subset of what was destroyed at t.
  const e = p.posteriorNoise(x0, xt, 0.7, rng);
  const xs = p.forward(x0, 0.4, p.kernel(e, 0, rng));
  for (let i = 0; i < xs.data.length; i++) {
    if (xs.data[i] !== x0.data[i]) assert.equal(xs.data[i], xt.data[i], `position ${i}: still replaced, so the same token as at t`);
  }
});

test("replacement errors name the position and the values", () => {
  const p = replacement({ vocab: V, variant: "different" });
  assert.throws(() => p.posteriorNoise(tensor([1, 3], [0, 1, 2]), tensor([1, 3], [1, 1, 2]), 0, new Rng(0)), /row 0 position 0 \(x0 0, x_t 1\).*impossible when m\(t\) = 0/);
  assert.throws(() => p.posteriorNoise(tensor([1, 3], [0, 1, 2]), tensor([1, 3], [0, 1, 2]), 1, new Rng(0)), /unchanged token is impossible/);
  assert.throws(() => replacement({ vocab: V, variant: "other" as ReplacementVariant }), /variant must be "uniform" or "different", got "other"/);
  assert.throws(() => countedReplacement({ vocab: V, length: 3, variant: "different" }).posteriorNoise(tensor([1, 3], [0, 1, 2]), tensor([1, 3], [0, 1, 2]), 1 / 3, new Rng(0)), /0 destroyed positions, but exactly 1/);
});

// ---- a learned denoiser restricted to the process's support -------------------

test("categorical denoiser conditioned on the changed count samples exactly prod q restricted to the support", async () => {
  const { categoricalDenoiser } = await import("../src/text/denoiser.js");
  // A fixed factorised q over 3 positions and 3 tokens, and x_t = [0, 1, 2].
  const q = [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.1, 0.8]];
  const model = { vocab: V, logProbs: (xt: Tensor) => Float32Array.from({ length: xt.shape[0] * L * V }, (_, j) => Math.log(q[Math.floor(j / V) % L][j % V])) };
  const xtRow = [0, 1, 2];
  const n = 6000;
  const xt = tensor([n, L], new Float32Array(n * L).map((_, i) => xtRow[i % L]));
  for (const range of [[2, 2], [0, 1], [3, 3]] as [number, number][]) {
    const den = categoricalDenoiser(model, { changedRange: () => range });
    const x = await den.sample(xt, 0.5, new Rng(70 + range[0]));
    const probs = Array.from(dist.probs, (_, i) => {
      const s = stringAt(V, L, i);
      const changed = s.filter((v, j) => v !== xtRow[j]).length;
      return changed >= range[0] && changed <= range[1] ? s.reduce((a, v, j) => a * q[j][v], 1) : 0;
    });
    const z = probs.reduce((a, b) => a + b, 0);
    const res = chiSquareTest(stringCounts(dist, x), probs.map((p) => p / z));
    assert.ok(res.pValue > 0.001, `range [${range}]: chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
  }
  // The processes report their supports.
  assert.deepEqual(replacement({ vocab: V, variant: "different" }).changedRange(1, 5), [5, 5]);
  assert.deepEqual(replacement({ vocab: V, variant: "uniform" }).changedRange(1, 5), [0, 5]);
  assert.deepEqual(countedReplacement({ vocab: V, length: 3, variant: "uniform" }).changedRange(2 / 3, 3), [0, 2]);
  assert.deepEqual(countedReplacement({ vocab: V, length: 3, variant: "different" }).changedRange(2 / 3, 3), [2, 2]);
});
