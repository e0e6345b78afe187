import { test } from "node:test";
import assert from "node:assert/strict";
import { init, jit, numpy as np, tree, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { makeGrid } from "../src/core/grid.js";
import { destruction, type Schedule } from "../src/core/schedule.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { masking } from "../src/processes/masking.js";
import { countedMasking, countedReplacement } from "../src/processes/counted.js";
import { replacement } from "../src/processes/replacement.js";
import { replacementNelbo, replacementNelboQuadrature } from "../src/text/replacement-elbo.js";
import { replacementElboLoss } from "../src/text/replacement-loss.js";
import { autoregressive } from "../src/processes/autoregressive.js";
import { chiSquareTest, entropy, enumerable, enumerableDenoiser, sampleEnumerable, stringAt, stringCounts, testStrings } from "../src/oracles/enumerable.js";
import { maskingCountWeights, maskingElboWeight, maskingNelbo, maskingNelboExact } from "../src/text/elbo.js";
import { networkCategorical } from "../src/text/denoiser.js";
import { tokenObjective } from "../src/text/objective.js";
import { autoregressiveNll, autoregressiveObjective } from "../src/text/autoregressive.js";
import { transformer } from "../src/model/transformer.js";
import { objectiveLoss, weightedLoss } from "../src/train/loss.js";
import { timeSampler, train } from "../src/train/train.js";
import type { Network, Objective, Params } from "../src/train/types.js";
import type { Process } from "../src/core/process.js";
import type { TokenProcess } from "../src/processes/tokens.js";
import { decode, loadText } from "../src/data/text.js";
import { innerWords, wordList, wordShare } from "../src/metrics/words.js";

await init("wasm");

const dist = testStrings();
const { V, L } = dist;

// ---- the ELBO weight against its formula ------------------------------------

/** Largest relative error of a weight function against MDLM's m'(t)/m(t), written out per schedule. */
function weightError(w: (m: Schedule, t: number) => number): number {
  const exact: [Schedule, (t: number) => number][] = [
    [destruction.linear(), (t) => 1 / t],
    [destruction.cosine(), (t) => ((Math.PI / 2) * Math.sin((Math.PI * t) / 2)) / (1 - Math.cos((Math.PI * t) / 2))],
    [destruction.logLinear(), (t) => 1 / t], // m = (1 - eps) t
  ];
  let worst = 0;
  for (const [m, f] of exact) for (const t of [0.01, 0.1, 0.37, 0.5, 0.9, 0.999]) worst = Math.max(worst, Math.abs(w(m, t) - f(t)) / f(t));
  return worst;
}

test("ELBO weight: m'(t)/m(t) for linear, cosine and log-linear m; a weight without m' is rejected", () => {
  const weight = (m: Schedule, t: number) => maskingElboWeight(masking({ vocab: 3, schedule: m }), t);
  assert.ok(weightError(weight) < 1e-6, `relative error ${weightError(weight)}`);
  // Mutation: 1/m(t) (forgetting m') is right for linear m only.
  assert.ok(weightError((m, t) => 1 / m.m(t)) > 0.1);
  assert.equal(maskingElboWeight(masking({ vocab: 3, schedule: destruction.cosine() }), 1e-12), 0, "no masked token, no weight (not Inf)");
});

test("ELBO weight, counted form: L/k for linear m on the grid k/L; T (n_k - n_(k-1)) / n_k in general", () => {
  const Lc = 8;
  const lin = countedMasking({ vocab: 3, length: Lc });
  for (let k = 1; k <= Lc; k++) assert.ok(Math.abs(maskingElboWeight(lin, k / Lc) - Lc / k) < 1e-12, `k = ${k}`);
  const cos = countedMasking({ vocab: 3, length: Lc, schedule: destruction.cosine() });
  const n = (k: number) => Math.round((1 - Math.cos((Math.PI * k) / Lc / 2)) * Lc);
  for (let k = 1; k <= Lc; k++) {
    const want = n(k) > 0 ? (Lc * (n(k) - n(k - 1))) / n(k) : 0;
    assert.ok(Math.abs(maskingElboWeight(cos, k / Lc) - want) < 1e-12, `cosine k = ${k}: ${maskingElboWeight(cos, k / Lc)} vs ${want}`);
  }
});

test("count weights: E[m'(t)/m(t) | K masked of L] = (L + 1)/K for linear m; for cosine and log-linear m, 1/K over the frequency of K", () => {
  for (const Lc of [3, 128]) {
    const w = maskingCountWeights(destruction.linear(), Lc);
    assert.equal(w[0], 0, "nothing masked, no term");
    for (let k = 1; k <= Lc; k++) assert.ok(Math.abs(w[k] - (Lc + 1) / k) < 1e-6 * w[k], `linear L = ${Lc}, K = ${k}: ${w[k]}`);
  }
  // Against the forward process itself (t ~ U(0, 1], K ~ Bin(8, m(t))): the mean of m'(t)/m(t) among
  // draws with K masked, for K >= 2 (for K = 1 it has no second moment: there, P(K) = 1 / (K w(K))).
  const Lc = 8;
  const rng = new Rng(21);
  for (const [name, sched] of [["cosine", destruction.cosine()], ["log-linear", destruction.logLinear()]] as const) {
    const w = maskingCountWeights(sched, Lc);
    const n = 200_000;
    const count = new Float64Array(Lc + 1);
    const sum = new Float64Array(Lc + 1);
    const sq = new Float64Array(Lc + 1);
    for (let i = 0; i < n; i++) {
      const t = 1 - rng.uniform();
      const m = sched.m(t);
      let K = 0;
      for (let j = 0; j < Lc; j++) if (rng.uniform() < m) K++;
      const ratio = scheduleSlopeOf(sched, t) / m;
      count[K]++;
      sum[K] += ratio;
      sq[K] += ratio * ratio;
    }
    for (let k = 2; k <= Lc; k++) {
      const mean = sum[k] / count[k];
      const se = Math.sqrt((sq[k] / count[k] - mean * mean) / count[k]);
      assert.ok(Math.abs(w[k] - mean) < 4 * se + 1e-3, `${name} K = ${k}: ${w[k]} vs Monte Carlo ${mean} ± ${se}`);
    }
    if (name === "cosine") {
      // K = 1 (whose 1/t has no second moment): 1 / (K P(K)) with P(K) from the frequencies.
      const p = count[1] / n;
      const se = Math.sqrt((p * (1 - p)) / n);
      assert.ok(Math.abs(1 / w[1] - p) < 4 * se, `cosine K = 1: 1/w = ${1 / w[1]} vs P(1) = ${p} ± ${se}`);
    }
  }
});

/** m'(t) written out (not the library's finite difference): cosine, or log-linear m = (1 - eps) t. */
function scheduleSlopeOf(sched: Schedule, t: number): number {
  return sched.name === "cosine" ? (Math.PI / 2) * Math.sin((Math.PI * t) / 2) : sched.m(1);
}

test("token objective: mean weighting gives 1, elbo weighting m'(t)/m(t) per row, on masked positions only", () => {
  const p = masking({ vocab: 3, schedule: destruction.cosine() });
  const x0 = tensor([2, 3], [0, 1, 2, 2, 1, 0]);
  const xt = tensor([2, 3], [3, 1, 3, 2, 3, 3]);
  const t = new Float32Array([0.25, 0.8]);
  assert.deepEqual(Array.from(tokenObjective(p).target(x0, xt, t, tensor([2, 3])).weight!.data), [1, 0, 1, 0, 1, 1]);
  const w = tokenObjective(p, { weighting: "elbo" }).target(x0, xt, t, tensor([2, 3])).weight!.data;
  const w0 = maskingElboWeight(p, t[0]);
  const w1 = maskingElboWeight(p, t[1]);
  assert.deepEqual(Array.from(w), Array.from(Float32Array.from([w0, 0, w0, 0, w1, w1])));
  // count: the row's weight is read off its number of masked tokens (2 and 2 here), not its t.
  const wc = tokenObjective(p, { weighting: "count" }).target(x0, xt, t, tensor([2, 3])).weight!.data;
  const table = maskingCountWeights(p.schedule, 3);
  assert.deepEqual(Array.from(wc), Array.from(Float32Array.from([table[2], 0, table[2], 0, table[2], table[2]])));
  assert.throws(() => tokenObjective(replacement({ vocab: 3 }), { weighting: "count" }), /"count" weighting needs a masking process/);
  assert.throws(() => tokenObjective(countedReplacement({ vocab: 3, length: 3 }), { weighting: "elbo" }), /needs a continuous-time masking or replacement process/);
  assert.throws(() => tokenObjective(replacement({ vocab: 3, variant: "different" }), { weighting: "elbo" }), /defined for variant "uniform"/);
});

test("stratified time sampler: one draw per stratum [i/n, (i+1)/n] in every batch, uniform on k/T for discrete time", () => {
  const rng = new Rng(3);
  const cont = timeSampler("stratified", masking({ vocab: 3 }));
  for (let rep = 0; rep < 20; rep++) {
    const t = cont(16, rng);
    // Sorted, the i-th lies in [i/16, (i+1)/16] (closed: float32 may round onto a boundary).
    const sorted = Array.from(t).sort((a, b) => a - b);
    assert.ok(sorted.every((x, i) => x >= i / 16 && x <= (i + 1) / 16), `batch ${rep}: ${sorted}`);
    assert.ok(t.every((x) => x > 0 && x <= 1));
  }
  // Marginally uniform: the mean of row 0's t over many batches is 1/2.
  const first = Array.from({ length: 4000 }, () => cont(8, rng)[0]);
  assert.ok(Math.abs(first.reduce((a, b) => a + b, 0) / 4000 - 0.5) < 0.015);
  const disc = timeSampler("stratified", countedMasking({ vocab: 3, length: 4 }))(8, rng);
  assert.deepEqual(Array.from(disc, (x) => x * 4).sort(), [1, 1, 2, 2, 3, 3, 4, 4]);
});

// ---- the training loss is an unbiased estimate of the NELBO --------------------

/**
 * Strings that are one symbol repeated (aaa, bbb, ccc; a little mass on the
 * rest): the loss of a masked token depends strongly on how much is masked
 * (one visible token gives the answer), so weightings that differ in how
 * they weigh t give clearly different expectations.
 */
const repeats = enumerable(V, L, Array.from({ length: V ** L }, (_, i) => (new Set(stringAt(V, L, i)).size === 1 ? 1 : 0.02)));

/** A small Transformer trained briefly on `repeats`: a q(x0 | x_t, t) whose loss varies with t. */
async function copyModel(): Promise<{ net: Network; params: Params }> {
  const net = transformer({ vocab: V, length: L, dim: 16, heads: 2, layers: 1, timeDim: 8, window: 1 });
  const p = masking({ vocab: V });
  const res = await train({ process: p, network: net, objective: tokenObjective(p), data: sampleEnumerable(repeats, 2000, new Rng(1)), steps: 150, batchSize: 64, seed: 2, lr: 3e-3, emaDecay: 0 });
  tree.dispose(res.ema);
  return { net, params: res.params };
}

/**
 * The training loss, exactly as train() computes it (objective target and
 * weight, objectiveLoss on the network's output, t drawn by train's time
 * sampler), on `batches` fresh batches of `repeats` with FIXED weights:
 * mean and stderr.
 */
async function trainingLoss<E>(net: Network, params: Params, process: Process<Tensor, E>, objective: Objective<Tensor, E>, batches: number, seed: number, time: "uniform" | "stratified" = "uniform") {
  const f = jit((p: Params, x: JArray, t: JArray, y: JArray, w: JArray) => objectiveLoss(objective.loss, net.apply(p, x, t), y, w));
  const rng = new Rng(seed);
  const draw = timeSampler(time, process);
  const values: number[] = [];
  const B = 64;
  const a = (x: Tensor) => np.array(x.data).reshape([...x.shape]);
  for (let i = 0; i < batches; i++) {
    const x0 = sampleEnumerable(repeats, B, rng);
    const t = draw(B, rng);
    const eps = process.noise(x0.shape, rng);
    const xt = process.forward(x0, t, eps);
    const { target, weight } = objective.target(x0, xt, t, eps);
    values.push((await f(tree.ref(params), a(xt), np.array(t), a(target), a(weight!)).data())[0]);
  }
  f.dispose();
  const mean = values.reduce((s, v) => s + v, 0) / batches;
  const sd = Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (batches - 1));
  return { mean, stderr: sd / Math.sqrt(batches) };
}

test("elbo-weighted training loss is an unbiased estimate of the NELBO per character that eval --nll estimates; mean weighting and 1/m(t) are not", async () => {
  const { net, params } = await copyModel();
  for (const [name, process] of [
    ["masking cosine", masking({ vocab: V, schedule: destruction.cosine() })],
    ["masking linear", masking({ vocab: V })],
    ["counted linear", countedMasking({ vocab: V, length: L })],
  ] as const) {
    const model = networkCategorical(net, tree.ref(params));
    // Exact NELBO of this model, averaged over the data distribution, per character.
    let exact = 0;
    for (let i = 0; i < repeats.probs.length; i++) exact += (repeats.probs[i] * (await maskingNelboExact(model, process, stringAt(V, L, i)))) / L;
    // What `udm eval --nll` computes (the Monte Carlo count form) agrees with it.
    const mc = await maskingNelbo(model, process, sampleEnumerable(repeats, 4000, new Rng(8)), { rng: new Rng(9) });
    const mcNats = mc.natsPerSeq / L;
    assert.ok(Math.abs(mcNats - exact) < 4 * mc.stderrBits * Math.LN2 + 0.01, `${name}: eval NELBO ${mcNats} vs exact ${exact}`);
    model.dispose();

    const elbo = await trainingLoss(net, params, process as Process<Tensor, unknown>, tokenObjective(process as TokenProcess<unknown>, { weighting: "elbo" }), 300, 11);
    // The count form: the same expectation, the same draws, with the spread of 1/t among rows of equal K removed.
    const count = await trainingLoss(net, params, process as Process<Tensor, unknown>, tokenObjective(process as TokenProcess<unknown>, { weighting: "count" }), 300, 11);
    console.log(`#   count weighting: ${count.mean.toFixed(4)} ± ${count.stderr.toFixed(4)}`);
    assert.ok(Math.abs(count.mean - exact) < 4 * count.stderr, `${name}: count-weighted loss ${count.mean} ± ${count.stderr} vs NELBO ${exact}`);
    if (name !== "counted linear") assert.ok(count.stderr < elbo.stderr, `${name}: count ${count.stderr} should spread less than elbo ${elbo.stderr}`);
    const mean = await trainingLoss(net, params, process as Process<Tensor, unknown>, tokenObjective(process as TokenProcess<unknown>, { weighting: "mean" }), 300, 11);
    console.log(`# ${name}: training loss elbo ${elbo.mean.toFixed(4)} ± ${elbo.stderr.toFixed(4)}, mean ${mean.mean.toFixed(4)} ± ${mean.stderr.toFixed(4)}; exact NELBO ${exact.toFixed(4)} nats/char`);
    assert.ok(Math.abs(elbo.mean - exact) < 4 * elbo.stderr, `${name}: training loss ${elbo.mean} ± ${elbo.stderr} vs NELBO ${exact}`);
    // The stratified t of `--weighting elbo` keeps it unbiased and lowers its spread (checked once, on the linear m).
    if (name === "masking linear") {
      const strat = await trainingLoss(net, params, process as Process<Tensor, unknown>, tokenObjective(process as TokenProcess<unknown>, { weighting: "elbo" }), 300, 12, "stratified");
      console.log(`#   stratified t: ${strat.mean.toFixed(4)} ± ${strat.stderr.toFixed(4)}`);
      assert.ok(Math.abs(strat.mean - exact) < 4 * strat.stderr && strat.stderr < elbo.stderr, `${name}: stratified ${strat.mean} ± ${strat.stderr}`);
      // Mutation: count weights L/K (the discrete grid's, forgetting that K = 0..L are all equally likely here: (L + 1)/K).
      const grid: Objective<Tensor, unknown> = {
        ...tokenObjective(process as TokenProcess<unknown>, { weighting: "count" }),
        target(x0, xt) {
          const w = new Float32Array(xt.data.length);
          for (let b = 0; b < xt.shape[0]; b++) {
            let K = 0;
            for (let j = 0; j < L; j++) K += xt.data[b * L + j] === V ? 1 : 0;
            for (let j = 0; j < L; j++) w[b * L + j] = xt.data[b * L + j] === V ? L / K : 0;
          }
          return { target: x0, weight: tensor(xt.shape, w) };
        },
      };
      const bad = await trainingLoss(net, params, process as Process<Tensor, unknown>, grid, 300, 11);
      assert.ok(Math.abs(bad.mean - exact) > 4 * bad.stderr, `L/K weights ${bad.mean} ± ${bad.stderr} should miss ${exact}`);
    }
    // The plain mean weighs heavily masked rows more than the ELBO does: a different quantity.
    assert.ok(Math.abs(mean.mean - exact) > 8 * mean.stderr, `${name}: the mean-weighted loss ${mean.mean} ± ${mean.stderr} should miss ${exact}`);
    if (name === "masking cosine") {
      // Mutation: a weight 1/m(t) that forgets m'(t).
      const base = tokenObjective(process as TokenProcess<unknown>, { weighting: "elbo" });
      const noSlope: Objective<Tensor, unknown> = {
        ...base,
        target(x0, xt, t) {
          const w = new Float32Array(xt.data.length);
          for (let i = 0; i < w.length; i++) w[i] = xt.data[i] === V ? 1 / process.schedule.m(t[Math.floor(i / L)]) : 0;
          return { target: x0, weight: tensor(xt.shape, w) };
        },
      };
      const bad = await trainingLoss(net, params, process as Process<Tensor, unknown>, noSlope, 1000, 12);
      assert.ok(Math.abs(bad.mean - exact) > 4 * bad.stderr, `1/m(t) weights ${bad.mean} ± ${bad.stderr} should miss ${exact}`);
    }
  }
  tree.dispose(params);
});

// ---- replacement trained on its own bound ----------------------------------------

test("replacement ELBO loss: the score entropy (beta/V) sum_{i, w != x_t,i} f(s, r) / L, written out by hand on random logits", async () => {
  const [B, Lr, Vr] = [2, 3, 4];
  const rng = new Rng(5);
  const logits = rng.normals(B * Lr * Vr).map((z) => 2 * z);
  const x0 = [0, 1, 2, 3, 3, 1];
  const xt = [0, 2, 2, 1, 3, 0];
  const alpha = [0.7, 0.2];
  const coef = [0.3, 1.1]; // beta / (V L) per row
  const target = Float32Array.from({ length: B * Lr * 2 }, (_, j) => (j % 2 === 0 ? x0 : xt)[j >> 1]);
  const weight = Float32Array.from({ length: B * Lr * 2 }, (_, j) => (j % 2 === 0 ? alpha.map((a) => 1 - a) : coef)[Math.floor((j >> 1) / Lr)]); // (m, beta / (V L))
  const got = (await replacementElboLoss(np.array(logits).reshape([B, Lr, Vr]), np.array(target).reshape([B, Lr, 2]), np.array(weight).reshape([B, Lr, 2])).data())[0];
  let want = 0;
  for (let b = 0; b < B; b++) {
    const a = alpha[b];
    const q = (w: number, v: number) => (w === v ? a : 0) + (1 - a) / Vr; // q_t(w | v)
    for (let i = 0; i < Lr; i++) {
      const z = Array.from({ length: Vr }, (_, v) => logits[(b * Lr + i) * Vr + v]);
      const mx = Math.max(...z);
      const e = z.map((v) => Math.exp(v - mx));
      const pi = e.map((v) => v / e.reduce((u, w) => u + w, 0));
      const x = xt[b * Lr + i], y = x0[b * Lr + i];
      for (let w = 0; w < Vr; w++) {
        if (w === x) continue;
        const s = pi.reduce((acc, p, v) => acc + (p * q(w, v)) / q(x, v), 0); // sum_v pi(v) q(w|v) / q(x|v)
        const r = q(w, y) / q(x, y);
        want += (coef[b] * (s - r - r * Math.log(s / r))) / B;
      }
    }
  }
  assert.ok(Math.abs(got - want) < 1e-5 * Math.abs(want), `${got} vs ${want}`);
});

test("replacement --weighting elbo: with the exact posterior the loss is an unbiased estimate of the bound (= -log p(x0) per character); a mis-packed target is not", async () => {
  const process = replacement({ vocab: V, schedule: destruction.cosine() });
  const oracle = enumerableDenoiser(dist, process);
  const objective = tokenObjective(process, { weighting: "elbo" });
  // The training loss of each batch, with the oracle's log-probabilities as the logits.
  const lossOf = async (obj: Objective<Tensor, unknown>, batches: number, seed: number) => {
    const rng = new Rng(seed);
    const draw = timeSampler("uniform", process);
    const values: number[] = [];
    for (let k = 0; k < batches; k++) {
      const x0 = sampleEnumerable(dist, 64, rng);
      const t = draw(64, rng);
      const eps = process.noise(x0.shape, rng);
      const xt = process.forward(x0, t, eps);
      const { target, weight } = obj.target(x0, xt, t, eps);
      const logits = np.array(await oracle.logProbs(xt, t)).reshape([64, L, V]);
      const j = (x: Tensor) => np.array(x.data).reshape([...x.shape]);
      values.push((await objectiveLoss(obj.loss, logits, j(target), j(weight!)).data())[0]);
    }
    const mean = values.reduce((s, v) => s + v, 0) / batches;
    return { mean, stderr: Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (batches - 1) / batches) };
  };
  const h = entropy(dist) / L;
  const elbo = await lossOf(objective, 400, 13);
  console.log(`# replacement cosine, exact posterior: training loss (elbo) ${elbo.mean.toFixed(4)} ± ${elbo.stderr.toFixed(4)}, -log p per char ${h.toFixed(4)}`);
  assert.ok(Math.abs(elbo.mean - h) < 4 * elbo.stderr + 0.003, `training loss ${elbo.mean} ± ${elbo.stderr} vs ${h}`);
  // Mutation: x_t packed where x0 belongs (the ratios r then say "nothing was replaced").
  const swapped: Objective<Tensor, unknown> = { ...objective, target: (x0, xt, t, eps) => objective.target(xt, xt, t, eps) };
  const bad = await lossOf(swapped, 400, 13);
  assert.ok(Math.abs(bad.mean - h) > 6 * bad.stderr + 0.003, `x0 replaced by x_t: ${bad.mean} ± ${bad.stderr} should miss ${h}`);
});

test("replacement --weighting elbo trains a Transformer (loss falls, finite) and eval's bound is close to its training loss", async () => {
  const process = replacement({ vocab: V, schedule: destruction.cosine() });
  const net = transformer({ vocab: V, length: L, dim: 16, heads: 2, layers: 1, timeDim: 8, window: 1 });
  const res = await train({ process, network: net, objective: tokenObjective(process, { weighting: "elbo" }), data: sampleEnumerable(dist, 2000, new Rng(1)), steps: 300, batchSize: 64, seed: 2, lr: 3e-3, emaDecay: 0.9 });
  const first = res.losses.slice(0, 20).reduce((a, b) => a + b, 0) / 20;
  const last = res.losses.slice(-50).reduce((a, b) => a + b, 0) / 50;
  const model = networkCategorical(net, res.ema);
  const bound = await replacementNelbo(model, process, sampleEnumerable(dist, 2000, new Rng(8)), { rng: new Rng(9) });
  console.log(`# replacement elbo training: loss ${first.toFixed(3)} -> ${last.toFixed(3)} nats/char; eval bound ${(bound.natsPerSeq / L).toFixed(3)} ± ${(bound.stderrBits * Math.LN2).toFixed(3)}; entropy ${(entropy(dist) / L).toFixed(3)}`);
  assert.ok(res.losses.every(Number.isFinite) && last < first - 0.2, `loss ${first} -> ${last}`);
  assert.ok(bound.natsPerSeq / L < first && bound.natsPerSeq / L > entropy(dist) / L - 0.02);
  model.dispose();
  tree.dispose(res.params);
});

// ---- the autoregressive baseline ----------------------------------------------

test("autoregressive process: x_t is a prefix, posteriorNoise is the fixed ranking, a non-prefix x_t is an error", () => {
  const p = autoregressive({ vocab: 3, length: 4 });
  const x0 = tensor([1, 4], [0, 1, 2, 1]);
  const eps = p.noise([1, 4], new Rng(0));
  assert.deepEqual(Array.from(p.forward(x0, 0.5, eps).data), [0, 1, 3, 3]);
  assert.deepEqual(Array.from(p.forward(x0, 0.25, eps).data), [0, 1, 2, 3]);
  assert.deepEqual(Array.from(p.forward(x0, 1, eps).data), [3, 3, 3, 3]);
  assert.deepEqual(Array.from(p.posteriorNoise(x0, tensor([1, 4], [0, 1, 3, 3]), 0.5, new Rng(1)).rank.data), [3, 2, 1, 0]);
  assert.throws(() => p.posteriorNoise(x0, tensor([1, 4], [0, 3, 2, 3]), 0.5, new Rng(1)), /row 0 at t = 0.5 is not x0 with its last 2 positions masked/);
  assert.equal(p.kernel(eps, 1, new Rng(2)), eps, "a point-mass noise law only keeps the identity kernel");
  assert.equal(p.likelihood([0, 1, 2, 1], [0, 1, 3, 3], 0.5), 1);
  assert.equal(p.likelihood([0, 1, 2, 1], [0, 3, 2, 3], 0.5), 0);
});

test("autoregressive oracle sampler reproduces the strings (r = 0 and 1, L steps and 1 step)", async () => {
  const p = autoregressive({ vocab: V, length: L });
  for (const [r, steps, seed] of [[0, 3, 1], [1, 3, 2], [0, 1, 3]]) {
    const rng = new Rng(seed);
    const x = await sample({ process: p, denoiser: enumerableDenoiser(dist, p), grid: makeGrid("uniform", steps, p.time), r, rng, shape: [3000, L] });
    const res = chiSquareTest(stringCounts(dist, x), dist.probs);
    assert.ok(res.pValue > 0.001, `r = ${r}, ${steps} steps: chi2 ${res.statistic.toFixed(1)}, p = ${res.pValue}`);
  }
});

test("autoregressive NLL with the exact oracle is -log p(x0) for every string; treating the oracle as causal is rejected", async () => {
  const p = autoregressive({ vocab: V, length: L });
  const oracle = enumerableDenoiser(dist, p);
  const all = tensor([27, L], Array.from({ length: 27 }, (_, i) => stringAt(V, L, i)).flat());
  const r = await autoregressiveNll(oracle, p, all, { causal: false });
  // Mean over the 27 strings of -log p.
  const want = dist.probs.reduce((s, q) => s - Math.log(q), 0) / 27;
  assert.ok(Math.abs(r.natsPerSeq - want) < 1e-6, `${r.natsPerSeq} vs ${want}`);
  // Mutation: one forward on x0 is only valid for a causal model; shown x0 whole, the oracle refuses (x0 is impossible there).
  await assert.rejects(autoregressiveNll(oracle, p, all, { causal: true }), /has probability 0/);
});

test("causal transformer: output i ignores x_i.. and sees x_(i-1); one forward gives the same NLL as L suffix-masked forwards", async () => {
  const Lc = 7;
  const net = transformer({ vocab: 4, length: Lc, dim: 16, heads: 2, layers: 2, timeDim: 8, window: 2, causal: true });
  const params = net.init(1);
  params["out.w"].dispose();
  params["out.w"] = np.array(new Rng(2).normals(16 * 4)).reshape([16, 4]);
  const model = networkCategorical(net, params);
  const base = [0, 1, 2, 3, 0, 1, 2];
  for (const j of [0, 3, 6]) {
    const x = [...base];
    x[j] = (x[j] + 1) % 4;
    const lp = await model.logProbs(tensor([2, Lc], [...base, ...x]), new Float32Array([0.3, 0.9]));
    const changed = Array.from({ length: Lc }, (_, i) => i).filter((i) => [0, 1, 2, 3].some((v) => Math.abs(lp[i * 4 + v] - lp[(Lc + i) * 4 + v]) > 1e-6));
    assert.deepEqual(changed, Array.from({ length: Lc - j - 1 }, (_, k) => j + 1 + k), `changing x_${j}`);
  }
  const p = autoregressive({ vocab: 4, length: Lc });
  const data = tensor([5, Lc], Array.from({ length: 5 * Lc }, (_, i) => (i * 7 + (i >> 2)) % 4));
  const one = await autoregressiveNll(model, p, data, { causal: true });
  const many = await autoregressiveNll(model, p, data, { causal: false });
  assert.ok(Math.abs(one.natsPerSeq - many.natsPerSeq) < 1e-4 * many.natsPerSeq, `${one.natsPerSeq} vs ${many.natsPerSeq}`);
  model.dispose();
});

test("AR baseline trained by teacher forcing reaches the entropy of the 27 strings (exact NLL, no bound)", async () => {
  const p = autoregressive({ vocab: V, length: L });
  const net = transformer({ vocab: V, length: L, dim: 32, heads: 2, layers: 1, timeDim: 8, causal: true });
  const data = sampleEnumerable(dist, 4000, new Rng(1));
  const res = await train({ process: p, network: net, objective: autoregressiveObjective(), data, steps: 300, batchSize: 64, seed: 2, lr: 3e-3, emaDecay: 0.9 });
  const model = networkCategorical(net, res.ema);
  const all = tensor([27, L], Array.from({ length: 27 }, (_, i) => stringAt(V, L, i)).flat());
  const per = await autoregressiveNll(model, p, all, { causal: true, batch: 1 });
  // Cross-entropy of the data under the model: sum_x p(x) (-log q(x)), via one row at a time.
  let ce = 0;
  for (let i = 0; i < 27; i++) ce += dist.probs[i] * (await autoregressiveNll(model, p, tensor([1, L], stringAt(V, L, i)), { causal: true })).natsPerSeq;
  const h = entropy(dist);
  console.log(`# AR cross-entropy ${ce.toFixed(4)} nats, entropy ${h.toFixed(4)} (training loss tail ${res.losses.slice(-20).reduce((a, b) => a + b, 0) / 20 * L})`);
  assert.ok(ce >= h - 1e-6 && ce < h + 0.05, `cross-entropy ${ce} vs entropy ${h}`);
  assert.ok(Number.isFinite(per.natsPerSeq));
  model.dispose();
  tree.dispose(res.params);
});

// ---- the readable-sample metric --------------------------------------------------

test("word share: letters-only tokens, lower-cased, words touching a chunk end not counted", () => {
  const known = wordList("Emma Woodhouse, handsome, clever, and rich; she'd lived nearly twenty-one years.");
  assert.ok(known.has("emma") && known.has("she") && known.has("d") && known.has("twenty") && !known.has("she'd"));
  assert.deepEqual(innerWords("ma was clever, and hanso"), ["was", "clever", "and"]);
  assert.deepEqual(innerWords(" ma was"), ["ma"]);
  const r = wordShare(["ma was clever, and hanso", "x Emma qzx rich y"], known);
  // counted: was, clever, and | emma, qzx, rich  ->  "was" and "qzx" are not in the list.
  assert.deepEqual(r, { share: 4 / 6, words: 6, real: 4 });
  assert.ok(Number.isNaN(wordShare(["abc"], known).share));
});

test("word share on Emma: held-out text scores near its ceiling, unigram noise does not", () => {
  const d = loadText("text:austen-emma", { length: 64 });
  const rows = (x: Tensor) => Array.from({ length: x.shape[0] }, (_, b) => decode(x.data.subarray(b * 64, b * 64 + 64), d.vocab));
  const known = wordList(decode(d.train.data, d.vocab));
  const held = wordShare(rows(d.heldOut), known);
  // Characters drawn independently with the text's own frequencies: the letters are right, the words are not.
  const rng = new Rng(1);
  const noise = tensor([200, 64], Array.from({ length: 200 * 64 }, () => d.train.data[rng.int(d.train.data.length)]));
  const fake = wordShare(rows(noise), known);
  console.log(`# Emma held-out word share ${held.share.toFixed(4)} (${held.words} words), unigram noise ${fake.share.toFixed(4)}`);
  assert.ok(held.share > 0.95 && held.words > 10000, `held-out ${held.share}`);
  assert.ok(fake.share < 0.4, `unigram noise ${fake.share}`);
});

// ---- the CLI ---------------------------------------------------------------------

test("CLI: mask --weighting elbo and the ar baseline train, sample and report bits/char and word share", async () => {
  const { main } = await import("../src/cli/main.js");
  const { TEXT_LENGTH } = await import("../src/cli/entries/text.js");
  const { mkdtempSync, readFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "udm-text-"));
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    const tiny = ["--steps", "3", "--batch-size", "8", "--tf-dim", "16", "--tf-layers", "1", "--quiet"];
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "mask", "--weighting", "elbo", ...tiny, "--out", join(dir, "m")]), 0);
    const cfg = JSON.parse(readFileSync(join(dir, "m", "checkpoint", "config.json"), "utf8"));
    assert.equal(cfg.objective.weighting, "elbo");
    assert.equal(cfg.objective.loss, "custom");
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "mask", "--weighting", "sum", ...tiny, "--out", join(dir, "bad")]), 2);
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "replace", "--weighting", "elbo", ...tiny, "--out", join(dir, "r")]), 0);
    assert.equal(JSON.parse(readFileSync(join(dir, "r", "checkpoint", "config.json"), "utf8")).objective.weighting, "elbo (uniform-jump score entropy)");
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "replace", "--variant", "different", "--weighting", "elbo", ...tiny, "--out", join(dir, "bad2")]), 2);
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "ar", ...tiny, "--out", join(dir, "ar")]), 0);
    assert.equal(JSON.parse(readFileSync(join(dir, "ar", "checkpoint", "config.json"), "utf8")).network.config.causal, true);
    assert.equal(await main(["sample", "--checkpoint", join(dir, "ar"), "-n", "2", "--steps", "16", "--out", join(dir, "ars")]), 2);
    // Without --steps: one step per character, not the generic default of 100.
    logs.length = 0;
    assert.equal(await main(["sample", "--checkpoint", join(dir, "ar"), "-n", "2", "--out", join(dir, "ard")]), 0);
    assert.ok(logs.some((l) => new RegExp(`left to right, ${TEXT_LENGTH} steps, ${TEXT_LENGTH} uniform steps`).test(l)), logs.join("\n"));
    logs.length = 0;
    assert.equal(await main(["eval", "--checkpoint", join(dir, "ar"), "-n", "4", "--steps", String(TEXT_LENGTH), "--nll", "--nll-rows", "20"]), 0);
    assert.ok(logs.some((l) => /held-out NLL: .* bits\/dim \(20 rows; chain rule, exact/.test(l)), logs.join("\n"));
    assert.ok(logs.some((l) => /^wordShare: /.test(l)) && logs.some((l) => /^wordShareHeldOut: 0\.9/.test(l)), logs.join("\n"));
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
});
