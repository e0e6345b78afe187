import { test } from "node:test";
import assert from "node:assert/strict";
import { init, numpy as np, tree } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { uniformGrid } from "../src/core/grid.js";
import { padRows, rowLengths, rowTokens } from "../src/core/padded.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { deletion } from "../src/processes/deletion.js";
import { exactGapCounts, sampleStrings, testSequences } from "../src/oracles/sequences.js";
import { insertionLayout, insertionTransformer } from "../src/model/insertion.js";
import { insertionDenoiser, insertionLoss, insertionObjective, insertionRates, insertionTargets, networkInsertion, Proposal, softmax } from "../src/text/insertion.js";
import { deletionBound, type RateModel } from "../src/text/deletion-bound.js";
import { train } from "../src/train/train.js";

await init("wasm");

// The insertion model and the bound of deletion diffusion, on the 31-string
// distribution of test/deletion.test.ts (lengths 0..4 over 2 symbols).
const dist = testSequences();
const { V, maxLength: L } = dist;
const linear = deletion({ vocab: V });
const entropy = -dist.probs.reduce((a, p) => a + p * Math.log(p), 0);
const allStrings = padRows(dist.strings, L, V);

/** The exact reverse rates (linear schedule: m = t): the posterior mixture of gap counts. */
function oracleRates(scale = 1): RateModel {
  return {
    ratesFor: (xt, m) =>
      Array.from({ length: xt.shape[0] }, (_, b) => {
        const rho = exactGapCounts(dist, linear, Array.from(rowTokens(xt, b, V)), m[b]);
        return { total: scale * rho.reduce((a, c) => a + c, 0), at: (g: number, v: number) => scale * rho[g * V + v] };
      }),
  };
}

test("the deletion bound with the exact rates equals -log p(x0) for every string (quadrature, all deletion sets)", async () => {
  const res = await deletionBound(oracleRates(), allStrings, V, { rng: new Rng(0), exhaustive: true, nodes: 48 });
  res.perRow.forEach((b, i) => assert.ok(Math.abs(b + Math.log(dist.probs[i])) < 1e-5, `[${dist.strings[i]}]: bound ${b}, -log p ${-Math.log(dist.probs[i])}`));
  // Mutation: rates 20% too high are a worse model, and its bound is strictly above the entropy.
  const off = await deletionBound(oracleRates(1.2), allStrings, V, { rng: new Rng(0), exhaustive: true, nodes: 48 });
  const mean = off.perRow.reduce((a, b, i) => a + dist.probs[i] * b, 0);
  assert.ok(mean > entropy + 0.01, `rates x1.2: expected bound ${mean} vs entropy ${entropy}`);
});

test("the Monte Carlo form of the bound (random deletion sets and levels) is unbiased for the exact rates", async () => {
  const res = await deletionBound(oracleRates(), allStrings, V, { rng: new Rng(1), draws: 300 });
  const mean = res.perRow.reduce((a, b, i) => a + dist.probs[i] * b, 0);
  // Per-string error ~0.07 with 300 draws; the p-weighted mean ~0.02.
  assert.ok(Math.abs(mean - entropy) < 0.06, `Monte Carlo ${mean} vs entropy ${entropy}`);
  assert.ok(res.bitsPerChar > 0 && res.stderrBits > 0 && res.characters === dist.strings.reduce((a, s) => a + s.length, 0));
});

test("insertion targets and queries: the deleted tokens of x0, by the gap of x_t they fall in and their slot there", () => {
  const p = deletion({ vocab: 3 });
  const Lm = 6;
  const G = Lm + 1;
  const x0 = padRows([[0, 1, 2, 2, 1], []], Lm, 3);
  // Row 0 keeps positions 1 and 3 (u >= m = 0.5): x_t = [1, 2]; gaps: [0] | [2] | [1].
  const u = tensor([2, Lm], [0.1, 0.9, 0.2, 0.8, 0.3, 0.5, 0, 0, 0, 0, 0, 0]);
  const t = Float32Array.of(0.5, 0.5);
  const { target, weight } = insertionTargets(p, Lm, x0, t, u);
  const W = 4 * G + Lm;
  assert.deepEqual(target.shape, [2, W]);
  const lm = Math.fround(Math.log(0.5));
  const row = Array.from(target.data.subarray(0, W));
  assert.deepEqual(row.slice(0, 16), [1, lm, 3, Math.fround(Math.log(6)), 1, lm, 3, 0, 1, lm, 3, 0, 0, lm, 3, 0]);
  assert.deepEqual(row.slice(4 * G), [0, 2, 1, -1, -1, -1]);
  // Weight: 1 / mean length (2.5) per row.
  assert.deepEqual(Array.from(weight.data), [0.4, 0.4].map(Math.fround));
  // The network input: x_t, then the (gap, slot) of each deleted token.
  const input = insertionObjective(p, Lm).input!(x0, p.forward(x0, t, u), t, u);
  assert.deepEqual(Array.from(input.data.subarray(0, 3 * Lm)), [1, 2, 3, 3, 3, 3, 0, 1, 2, -1, -1, -1, 0, 0, 0, -1, -1, -1]);
});

/** Random network-like output for x_t: head logits with the network's masks, then query token logits. */
function randomOutput(rng: Rng, k: ArrayLike<number>, Lm: number, Vp: number): Float32Array {
  const { gaps: G, K, head } = insertionLayout(Vp, Lm);
  const W = head + Lm * Vp;
  const out = new Float32Array(k.length * W).map(() => 2 * rng.normal());
  for (let b = 0; b < k.length; b++) {
    const totals = out.slice(b * W + 1, b * W + K + 2);
    for (let g = 0; g < G; g++) {
      const at = b * W + g * (K + 2);
      out.set(totals, at + 1);
      for (let T = Lm - k[b] + 1; T <= K; T++) out[at + 1 + T] = -1e9;
      if (g > k[b]) out[at] = -1e9;
    }
  }
  return out;
}

test("the jax-js insertion loss equals -log q(counts, tokens) computed on the host from the same logits", async () => {
  const p = deletion({ vocab: 3 });
  const Lm = 5;
  const rng = new Rng(5);
  const { gaps: G, K, head } = insertionLayout(3, Lm);
  const x0 = padRows([[0, 1, 2, 2, 1], [2, 0], [1, 1, 1]], Lm, 3);
  const t = Float32Array.of(0.3, 0.8, 0.55);
  const u = p.noise(x0.shape, rng);
  const xt = p.forward(x0, t, u);
  const { target, weight } = insertionTargets(p, Lm, x0, t, u);
  const k = rowLengths(xt, 3);
  const out = randomOutput(rng, k, Lm, 3);
  const W = head + Lm * 3;
  const loss = insertionLoss(np.array(out).reshape([3, W]), np.array(target.data).reshape([...target.shape]), np.array(weight.data).reshape([...weight.shape]));
  const got = (await loss.data())[0];
  let want = 0;
  const TW = 4 * G + Lm;
  for (let b = 0; b < 3; b++) {
    const prop = new Proposal(out.slice(b * W, b * W + head), K, k[b]);
    const counts = Array.from({ length: k[b] + 1 }, (_, g) => target.data[b * TW + 4 * g]);
    const ids = Array.from(target.data.subarray(b * TW + 4 * G, (b + 1) * TW)).filter((v) => v >= 0);
    const slots: number[][] = [];
    const tokenAt = new Map<string, Float64Array>();
    let i = 0;
    counts.forEach((c, g) => {
      slots.push(ids.slice(i, i + c));
      for (let j = 0; j < c; j++, i++) tokenAt.set(`${g},${j}`, softmax(out.subarray(b * W + head + i * 3, b * W + head + (i + 1) * 3)));
    });
    want -= prop.logProb(p.schedule.m(t[b]), slots, (g, j) => tokenAt.get(`${g},${j}`)!) / ((5 + 2 + 3) / 3);
  }
  want /= 3;
  assert.ok(Math.abs(got - want) < 1e-3 * Math.abs(want), `jax loss ${got}, host -log q ${want}`);
});

test("a Proposal's counts: the tilted total, its multinomial allocation, and rates that match them", () => {
  const rng = new Rng(6);
  const Lm = 6;
  const Vp = 3;
  const k = 2;
  const { head } = insertionLayout(Vp, Lm);
  const prop = new Proposal(randomOutput(rng, [k], Lm, Vp).slice(0, head), Lm, k);
  const m = 0.6;
  const n = 20000;
  const mean = new Float64Array(k + 1);
  for (let i = 0; i < n; i++) {
    const c = prop.counts(m, rng);
    assert.ok(c.reduce((a, b) => a + b, 0) <= Lm - k, "|x0_hat| <= Lmax");
    c.forEach((v, g) => (mean[g] += v / n));
  }
  // With one token distribution for every slot, rho(g, v) = E[c_g] q(v).
  const q = Float64Array.of(0.2, 0.5, 0.3);
  const rates = prop.rates(m, () => q);
  for (let g = 0; g <= k; g++) {
    const want = rates.at(g, 0) / q[0];
    assert.ok(Math.abs(mean[g] - want) < 0.03, `gap ${g}: mean count ${mean[g]}, rates ${want}`);
  }
  assert.ok(Math.abs(mean.reduce((a, b) => a + b, 0) - rates.total) < 0.03);
  // The tilt: q_m(T) ∝ exp(l(T) + T log m).
  const a = prop.totals(0.3);
  const b = prop.totals(0.9);
  assert.ok(Math.abs(Math.log(a[2] / a[1]) - Math.log(b[2] / b[1]) - Math.log(0.3 / 0.9)) < 1e-9);
  assert.deepEqual(Array.from(prop.totals(0)), [1, 0, 0, 0, 0, 0, 0]);
  // Totals past Lmax - |x_t| are impossible; slots past a gap's likely counts are not queried.
  assert.ok(prop.totals(1).slice(Lm - k + 1).every((v) => v === 0));
  assert.ok(prop.slots(0, 1e-4) < prop.slots(0, 1) && prop.slots(0, 1) <= Lm - k, `slots ${prop.slots(0, 1e-4)}, ${prop.slots(0, 1)}`);
  // Infilling: only allowed gaps receive tokens; none allowed, nothing inserted.
  for (let i = 0; i < 200; i++) assert.equal(prop.counts(m, rng, [false, true, false])[0], 0);
  assert.deepEqual(prop.counts(1, rng, [false, false, false]), [0, 0, 0]);
});

test("the insertion Transformer trains on the strings: loss falls, bound near the entropy, sample lengths follow the data", async () => {
  const net = insertionTransformer({ vocab: V, maxLength: L, dim: 32, heads: 2, layers: 1, timeDim: 16 });
  const data = sampleStrings(dist, 4000, new Rng(1));
  const untrained = networkInsertion(net, net.init(0));
  const run = await train({ process: linear, network: net, objective: insertionObjective(linear, L), data, steps: 300, batchSize: 64, lr: 3e-3, warmup: 30, emaDecay: 0.98, seed: 0 });
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  assert.ok(avg(run.losses.slice(-50)) < avg(run.losses.slice(0, 20)) - 0.05, `loss ${avg(run.losses.slice(0, 20))} -> ${avg(run.losses.slice(-50))}`);
  const model = networkInsertion(net, run.ema);
  const expected = async (m: typeof model) => {
    const res = await deletionBound(insertionRates(m, linear.schedule), allStrings, V, { rng: new Rng(0), exhaustive: true, nodes: 16 });
    return res.perRow.reduce((a, b, i) => a + dist.probs[i] * b, 0);
  };
  const trained = await expected(model);
  const before = await expected(untrained);
  assert.ok(trained > entropy - 0.02 && trained < entropy + 0.15, `bound ${trained}, entropy ${entropy}`);
  assert.ok(before > trained + 0.3, `untrained bound ${before}, trained ${trained}`);
  // Lengths of r = 0 samples vs the data's: total variation distance.
  const lengthsOf = (x: Tensor) => {
    const h = new Float64Array(L + 1);
    rowLengths(x, V).forEach((n) => (h[n] += 1 / x.shape[0]));
    return h;
  };
  const xs = await sample({ process: linear, denoiser: insertionDenoiser(model, linear), grid: uniformGrid(20), r: 0, rng: new Rng(3), shape: [2000, L] });
  const want = new Float64Array(L + 1);
  dist.strings.forEach((s, i) => (want[s.length] += dist.probs[i]));
  const tv = lengthsOf(xs).reduce((a, h, n) => a + Math.abs(h - want[n]) / 2, 0);
  assert.ok(tv < 0.05, `sample lengths ${Array.from(lengthsOf(xs), (v) => v.toFixed(3))} vs data ${Array.from(want, (v) => v.toFixed(3))}: TV ${tv}`);
  model.dispose();
  untrained.dispose();
  tree.dispose([run.params, run.ema]);
});
