import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../src/core/rng.js";
import { correct, sample } from "../src/core/sampler.js";
import { makeGrid, uniformGrid } from "../src/core/grid.js";
import { destruction } from "../src/core/schedule.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import type { Process } from "../src/core/process.js";
import { masking } from "../src/processes/masking.js";
import { countedMasking, type RankNoise } from "../src/processes/counted.js";
import type { TokenProcess } from "../src/processes/tokens.js";
import {
  chiSquareSurvival,
  chiSquareTest,
  enumerableDenoiser,
  sampleEnumerable,
  stringAt,
  stringCounts,
  testStrings,
  twoSampleChiSquare,
} from "../src/oracles/enumerable.js";
import { infillDenoiser } from "../src/text/infill.js";

// DESIGN.md "Exactness" for token processes: with the exact posterior of a
// small enumerable distribution (27 strings), the one sampler must reproduce
// the distribution for every r and step count. Chi-square goodness of fit
// with fixed seeds; a fit passes when p > 0.001, a broken step must give
// p < 1e-6.
const dist = testStrings();
const { V, L } = dist;
const N = 3000;

/** Start from the exact marginal p(x_1) (forward-corrupted data), then run the sampler with the oracle. */
async function oracleRun<E>(process: TokenProcess<E>, r: number, steps: number, seed: number, denoiserProcess: TokenProcess<unknown> = process): Promise<Tensor> {
  const rng = new Rng(seed);
  const x1 = process.forward(sampleEnumerable(dist, N, rng), 1, process.noise([N, L], rng));
  const grid = process.time.kind === "discrete" ? makeGrid("uniform", steps, process.time) : uniformGrid(steps);
  return sample({ process, denoiser: enumerableDenoiser(dist, denoiserProcess), grid, r, rng, x1 });
}

function fit(x: Tensor) {
  return chiSquareTest(stringCounts(dist, x), dist.probs);
}

test("chi-square survival function matches tabulated quantiles", () => {
  assert.ok(Math.abs(chiSquareSurvival(3.841, 1) - 0.05) < 1e-4);
  assert.ok(Math.abs(chiSquareSurvival(18.307, 10) - 0.05) < 1e-4);
  assert.ok(Math.abs(chiSquareSurvival(54.052, 26) - 0.001) < 1e-5);
  assert.ok(Math.abs(chiSquareSurvival(0.0158, 1) - 0.9) < 1e-3);
});

const schedules = { linear: destruction.linear(), cosine: destruction.cosine(), logLinear: destruction.logLinear() };

test("masking likelihood p(x_t | x0) matches the forward process's frequencies", () => {
  const rng = new Rng(1);
  const n = 20000;
  for (const [name, schedule] of Object.entries(schedules)) {
    const p = masking({ vocab: V, schedule });
    for (const t of [0.3, 0.8]) {
      const x0 = tensor([n, L], new Float32Array(n * L).map((_, i) => [2, 0, 1][i % L]));
      const xt = p.forward(x0, t, p.noise([n, L], rng));
      const counts = new Float64Array((V + 1) ** L);
      for (let b = 0; b < n; b++) counts[xt.data.subarray(b * L, b * L + L).reduce((a, v) => a * (V + 1) + v, 0)]++;
      const probs = Array.from(counts, (_, i) => p.likelihood([2, 0, 1], stringAt(V + 1, L, i), t));
      const res = chiSquareTest(counts, probs);
      assert.ok(res.pValue > 0.001, `${name} t = ${t}: chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
    }
  }
});

for (const r of [0, 0.5, 1]) {
  for (const steps of [1, 5, 20]) {
    test(`masking oracle sampler reproduces the strings: r = ${r}, ${steps} steps`, async () => {
      const res = fit(await oracleRun(masking({ vocab: V, schedule: destruction.cosine(), scheduleName: "cosine" }), r, steps, 100 + steps + 10 * r));
      assert.ok(res.pValue > 0.001, `chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
    });
  }
}

for (const r of [0, 0.5, 1]) {
  for (const steps of [1, 3]) {
    test(`counted masking oracle sampler reproduces the strings: r = ${r}, ${steps} steps (grid k/${L})`, async () => {
      const res = fit(await oracleRun(countedMasking({ vocab: V, length: L }), r, steps, 200 + steps + 10 * r));
      assert.ok(res.pValue > 0.001, `chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
    });
  }
}

// ---- posteriorNoise, tested directly (DESIGN.md caution 1) -----------------

/**
 * Draw x0 from the data, eps ~ q, x_t = F_t(x0, eps), then eps' ~ q(eps | x0, x_t).
 * If posteriorNoise is right, (x0, x_t, eps') has the law of (x0, x_t, eps);
 * compare the histograms of (x0_i, x_t,i, bin of u_i) with a two-sample chi-square,
 * and require F_t(x0, eps') = x_t exactly.
 */
function posteriorLaw(p: Process<Tensor, Tensor>, t: number, seed: number) {
  const rng = new Rng(seed);
  const n = 4000;
  const x0 = sampleEnumerable(dist, n, rng);
  const eps = p.noise([n, L], rng);
  const xt = p.forward(x0, t, eps);
  const back = p.posteriorNoise(x0, xt, t, rng);
  const consistent = p.forward(x0, t, back).data.every((v, i) => v === xt.data[i]);
  const bins = 10;
  const hist = (u: Tensor) => {
    const h = new Float64Array(V * (V + 1) * bins);
    for (let i = 0; i < u.data.length; i++) h[(x0.data[i] * (V + 1) + xt.data[i]) * bins + Math.floor(u.data[i] * bins)]++;
    return h;
  };
  return { consistent, res: twoSampleChiSquare(hist(eps), hist(back)) };
}

test("masking posteriorNoise: reproduces x_t and has the law of the forward noise", () => {
  for (const [name, schedule] of Object.entries(schedules)) {
    for (const t of [0.25, 0.6, 1]) {
      const { consistent, res } = posteriorLaw(masking({ vocab: V, schedule }), t, 7);
      assert.ok(consistent, `${name} t = ${t}: F_t(x0, posteriorNoise) != x_t`);
      assert.ok(res.pValue > 0.001, `${name} t = ${t}: chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
    }
  }
});

/** u ~ U[0, m/2) where masked: consistent with x_t, but the wrong law. */
function halfRangeBroken(): Process<Tensor, Tensor> {
  const good = masking({ vocab: V, schedule: destruction.cosine() });
  return {
    ...good,
    posteriorNoise: (x0, xt, t, rng) => {
      const u = good.posteriorNoise(x0, xt, t, rng);
      return tensor(u.shape, u.data.map((v, i) => (xt.data[i] === V ? v / 2 : v)));
    },
  };
}

test("a wrong masking posteriorNoise is rejected by the direct law test", () => {
  const broken = halfRangeBroken();
  const { consistent, res } = posteriorLaw(broken, 0.6, 7);
  assert.ok(consistent, "the broken posterior still reproduces x_t (so only the law test can see it)");
  assert.ok(res.pValue < 1e-6, `chi2 ${res.statistic.toFixed(1)}, p = ${res.pValue}: should reject`);
  // A posterior that ignores x_t altogether does not even reproduce x_t.
  const fresh: Process<Tensor, Tensor> = { ...broken, posteriorNoise: (_x0, xt, _t, rng) => broken.noise(xt.shape, rng) };
  assert.ok(!posteriorLaw(fresh, 0.6, 7).consistent);
});

test("caution 1: the sampling test alone cannot see a content-blind posterior error, but sees a content-dependent one", async () => {
  // Masks chosen without looking at the content leave the samples exact, so
  // the half-range posterior passes the sampling test (hence the direct test above).
  const blind = fit(await oracleRun(halfRangeBroken() as TokenProcess<Tensor>, 0, 5, 31));
  assert.ok(blind.pValue > 0.001, `content-blind error: p = ${blind.pValue}`);
  // A JS truthiness slip, `xt[i] ? visible : masked`, treats visible token 0
  // as masked: it re-masks the 0s more often than other tokens, and the
  // sampling test rejects it.
  const good = masking({ vocab: V, schedule: destruction.cosine() });
  const truthy: TokenProcess<Tensor> = {
    ...good,
    posteriorNoise: (x0, xt, t, rng) => {
      const u = good.posteriorNoise(x0, xt, t, rng);
      const mt = good.schedule.m(t as number);
      return tensor(u.shape, u.data.map((v, i) => (xt.data[i] === 0 ? mt * rng.uniform() : v)));
    },
  };
  const res = fit(await oracleRun(truthy, 0, 5, 32));
  assert.ok(res.pValue < 1e-6, `content-dependent error: chi2 ${res.statistic.toFixed(1)}, p = ${res.pValue}: should reject`);
});

/**
 * Counted masking: the joint histogram of (mask pattern, ranking) under the
 * forward noise and under the posterior noise must match, and F_t(x0, eps') = x_t.
 */
function countedLaw(post: (x0: Tensor, xt: Tensor, t: number, rng: Rng) => RankNoise, t: number, seed: number) {
  const p = countedMasking({ vocab: V, length: L });
  const rng = new Rng(seed);
  const n = 6000;
  const x0 = sampleEnumerable(dist, n, rng);
  const eps = p.noise([n, L], rng);
  const xt = p.forward(x0, t, eps);
  const back = post(x0, xt, t, rng);
  const consistent = p.forward(x0, t, back).data.every((v, i) => v === xt.data[i]);
  const hist = (e: RankNoise) => {
    const h = new Float64Array(2 ** L * L ** L);
    for (let b = 0; b < n; b++) {
      let pat = 0;
      let rk = 0;
      for (let i = 0; i < L; i++) {
        pat = pat * 2 + Number(xt.data[b * L + i] === V);
        rk = rk * L + e.rank.data[b * L + i];
      }
      h[pat * L ** L + rk]++;
    }
    return h;
  };
  return { consistent, res: twoSampleChiSquare(hist(eps), hist(back)), back };
}

test("counted masking posteriorNoise: reproduces x_t, and its rankings are uniform among the consistent ones", () => {
  const p = countedMasking({ vocab: V, length: L });
  for (const t of [1 / 3, 2 / 3]) {
    const { consistent, res, back } = countedLaw(p.posteriorNoise, t, 9);
    assert.ok(consistent, `t = ${t}: F_t(x0, eps') != x_t`);
    assert.ok(res.pValue > 0.001, `t = ${t}: chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
    for (let b = 0; b < 50; b++) assert.deepEqual([...back.rank.data.subarray(b * L, b * L + L)].sort(), [0, 1, 2]);
  }
  // Broken: the masked positions ranked by index instead of at random (consistent with x_t, wrong law).
  const sorted = (x0: Tensor, xt: Tensor, t: number, rng: Rng): RankNoise => {
    const e = p.posteriorNoise(x0, xt, t, rng);
    const rank = Float32Array.from(e.rank.data);
    for (let b = 0; b < xt.shape[0]; b++) {
      [0, 1, 2].filter((i) => xt.data[b * L + i] === V).forEach((i, j) => (rank[b * L + i] = j));
    }
    return { rank: tensor(e.rank.shape, rank), k: e.k };
  };
  const broken = countedLaw(sorted, 2 / 3, 9);
  assert.ok(broken.consistent);
  assert.ok(broken.res.pValue < 1e-6, `sorted ranking: chi2 ${broken.res.statistic.toFixed(1)}, p = ${broken.res.pValue}: should reject`);
});

test("counted kernel keeps rankings uniform (all 6 permutations equally likely after K_r)", () => {
  const p = countedMasking({ vocab: V, length: L });
  const rng = new Rng(12);
  const n = 6000;
  // Start from the identity ranking everywhere (not uniform) and apply K_r many times:
  // r = 0 must keep it, r = 1 must make it uniform in one step.
  const ident = { rank: tensor([n, L], new Float32Array(n * L).map((_, i) => i % L)), k: tensor([n, L]) };
  const permCounts = (e: RankNoise) => {
    const c = new Float64Array(L ** L);
    for (let b = 0; b < n; b++) c[e.rank.data.subarray(b * L, b * L + L).reduce((a, v) => a * L + v, 0)]++;
    return c;
  };
  assert.equal(permCounts(p.kernel(ident, 0, rng))[0 * 9 + 1 * 3 + 2], n);
  const perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]].map((q) => q[0] * 9 + q[1] * 3 + q[2]);
  const uniform = new Float64Array(L ** L);
  for (const q of perms) uniform[q] = 1 / 6;
  assert.ok(chiSquareTest(permCounts(p.kernel(ident, 1, rng)), uniform).pValue > 0.001);
  // Invariance at r = 0.5: uniform in, uniform out.
  const res = chiSquareTest(permCounts(p.kernel(p.noise([n, L], rng), 0.5, rng)), uniform);
  assert.ok(res.pValue > 0.001, `p = ${res.pValue}`);
});

// ---- r = 0 is the MDLM / D3PM absorbing sampler (DESIGN.md section 4) --------

test("masking with r = 0: a masked token is revealed w.p. (m(t) - m(s)) / m(t), visible tokens never change", () => {
  const rng = new Rng(21);
  const B = 400;
  const Lbig = 50;
  for (const [name, schedule] of Object.entries(schedules)) {
    const p = masking({ vocab: 5, schedule });
    for (const [t, s] of [[1, 0.7], [0.6, 0.5], [0.3, 0.05], [0.2, 0]]) {
      const x0 = tensor([B, Lbig], new Float32Array(B * Lbig).map(() => rng.int(5)));
      const xt = p.forward(x0, t, p.noise([B, Lbig], rng));
      // The denoiser's guess: visible tokens kept (as the process demands), masked ones arbitrary.
      const x0hat = tensor([B, Lbig], xt.data.map((v) => (v === 5 ? rng.int(5) : v)));
      const xs = correct(p, x0hat, xt, t, s, 0, rng);
      let masked = 0;
      let revealed = 0;
      for (let i = 0; i < xt.data.length; i++) {
        if (xt.data[i] === 5) {
          masked++;
          if (xs.data[i] !== 5) {
            revealed++;
            assert.equal(xs.data[i], x0hat.data[i], "a revealed token is x0_hat's");
          }
        } else assert.equal(xs.data[i], xt.data[i], `${name}: visible token changed at ${i}`);
      }
      const pr = (schedule.m(t) - schedule.m(s)) / schedule.m(t);
      const z = (revealed - masked * pr) / Math.sqrt(masked * pr * (1 - pr) + 1e-12);
      assert.ok(Math.abs(z) < 4, `${name} ${t} -> ${s}: revealed ${revealed}/${masked}, expected ${(pr * masked).toFixed(1)} (z = ${z.toFixed(2)})`);
    }
  }
});

test("masking with r = 1 re-masks from scratch: masked fraction m(s) whatever x_t was", () => {
  const rng = new Rng(22);
  const p = masking({ vocab: 5, schedule: destruction.cosine() });
  const n = 20000;
  const x0 = tensor([1, n], new Float32Array(n).map(() => rng.int(5)));
  const xt = p.forward(x0, 0.3, p.noise([1, n], rng));
  const xs = correct(p, x0, xt, 0.3, 0.2, 1, rng);
  const frac = xs.data.filter((v) => v === 5).length / n;
  const m = p.schedule.m(0.2);
  assert.ok(Math.abs(frac - m) < 4 * Math.sqrt((m * (1 - m)) / n), `masked fraction ${frac} vs m(s) = ${m}`);
  // Some visible tokens of x_t are masked again (impossible at r = 0).
  assert.ok(xs.data.some((v, i) => v === 5 && xt.data[i] !== 5));
});

// ---- infilling ----------------------------------------------------------------

test("infilling with the exact masking oracle samples exactly p(x0 | known positions)", async () => {
  const p = masking({ vocab: V, schedule: destruction.cosine() });
  const known = tensor([L], [-1, 2, -1]); // middle symbol is 2
  for (const r of [0, 1]) {
    const rng = new Rng(40 + r);
    const denoiser = infillDenoiser(enumerableDenoiser(dist, p), known);
    const xs = await sample({ process: p, denoiser, grid: uniformGrid(5), r, rng, shape: [N, L] });
    const cond = dist.probs.map((q, i) => (stringAt(V, L, i)[1] === 2 ? q : 0));
    const z = cond.reduce((a, b) => a + b, 0);
    const res = chiSquareTest(stringCounts(dist, xs), cond.map((q) => q / z));
    assert.ok(res.pValue > 0.001, `r = ${r}: chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
  }
});

test("masking errors name the position and the values", () => {
  const p = masking({ vocab: V });
  const x0 = tensor([1, 3], [0, 1, 2]);
  assert.throws(() => p.posteriorNoise(x0, tensor([1, 3], [0, 2, 3]), 0.5, new Rng(0)), /row 0 position 1 is visible in x_t \(2\) but x0 has 1/);
  assert.throws(() => p.forward(tensor([1, 3], [0, 1, 7]), 0.5, p.noise([1, 3], new Rng(0))), /entry 2 is 7/);
  assert.throws(() => p.prior([3], new Rng(0)), /shape \[B, L\]/);
  assert.throws(() => countedMasking({ vocab: V, length: L }).posteriorNoise(x0, tensor([1, 3], [3, 1, 2]), 2 / 3, new Rng(0)), /1 destroyed positions, but exactly 2/);
});
