import { test } from "node:test";
import assert from "node:assert/strict";
import { init, numpy as np } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { uniformGrid } from "../src/core/grid.js";
import { destruction } from "../src/core/schedule.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import type { Denoiser } from "../src/core/denoiser.js";
import { blockMasking, blockTime } from "../src/processes/block.js";
import { masking } from "../src/processes/masking.js";
import { chiSquareTest, enumerable, enumerableDenoiser, entropy, sampleEnumerable, stringAt, stringCounts } from "../src/oracles/enumerable.js";
import { blockNelbo, blockObjective, localTime, maskAllBlocks } from "../src/text/block.js";
import { autoregressiveNll } from "../src/text/autoregressive.js";
import { networkCategorical, type CategoricalModel } from "../src/text/denoiser.js";
import { transformer } from "../src/model/transformer.js";
import { train } from "../src/train/train.js";
import { withCli } from "./support/cli.js";

await init("wasm");

// Block diffusion (src/processes/block.ts, src/text/block.ts) against exact
// oracles: strings of 4 symbols over 3, in 2 blocks of 2, correlated within
// and across blocks.
const V = 3;
const L = 4;
const B = 2;
const dist = enumerable(
  V,
  L,
  Array.from({ length: V ** L }, (_, i) => {
    const x = stringAt(V, L, i);
    return Math.exp(1.3 * Number(x[0] === x[1]) + 1.1 * Number(x[1] === x[2]) - 0.9 * Number(x[2] === x[3]) - 0.6 * x[0] + 0.4 * x[3] * x[0]);
  }),
);
const proc = blockMasking({ vocab: V, length: L, block: B });
const MASK = V;

test("block process: at a time in block b's interval the blocks before b are clean, b is partly masked, the blocks after b are all [MASK]", () => {
  const p = blockMasking({ vocab: 5, length: 12, block: 3 });
  assert.equal(p.blocks, 4);
  assert.deepEqual([0, 1, 2, 3].map((b) => blockTime(1, b, 4)), [1, 1, 1, 1]);
  assert.deepEqual([0, 1, 2, 3].map((b) => blockTime(0, b, 4)), [0, 0, 0, 0]);
  // t = 0.6 lies in block 1's interval (0.5, 0.75]: local time 4 * 0.6 - 2 = 0.4.
  assert.deepEqual(Array.from(p.levels(0.6)).map((v) => +v.toFixed(6)), [0, 0, 0, 0.4, 0.4, 0.4, 1, 1, 1, 1, 1, 1]);
  const rng = new Rng(1);
  const n = 4000;
  const x0 = tensor([n, 12], new Float32Array(n * 12).map((_, i) => i % 5));
  const xt = p.forward(x0, 0.6, p.noise([n, 12], rng));
  const maskedShare = (i: number) => Array.from({ length: n }, (_, r) => xt.data[r * 12 + i] === 5).filter(Boolean).length / n;
  for (const i of [0, 1, 2]) assert.equal(maskedShare(i), 0);
  for (const i of [3, 4, 5]) assert.ok(Math.abs(maskedShare(i) - 0.4) < 0.03, `position ${i}: ${maskedShare(i)}`);
  for (const i of [6, 9, 11]) assert.equal(maskedShare(i), 1);
  // The posterior noise reproduces x_t; the prior is all [MASK].
  const u = p.posteriorNoise(x0, xt, 0.6, rng);
  assert.deepEqual(p.forward(x0, 0.6, u).data, xt.data);
  assert.ok(p.prior([2, 12], rng).data.every((v) => v === 5));
  // One block is masking itself.
  const whole = blockMasking({ vocab: 5, length: 12, block: 12 });
  const eps = whole.noise([3, 12], rng);
  assert.deepEqual(whole.forward(tensor([3, 12], x0.data.slice(0, 36)), 0.37, eps).data, masking({ vocab: 5 }).forward(tensor([3, 12], x0.data.slice(0, 36)), 0.37, eps).data);
  assert.throws(() => blockMasking({ vocab: 5, length: 12, block: 5 }), /block must be an integer in 1\.\.12 dividing the length 12, got 5/);
  assert.throws(() => p.posteriorNoise(x0, p.forward(x0, 0.6, p.noise([n, 12], rng)), 0.3, rng), /masked at t = 0.3, where its level m = 0/);
});

// ---- exactness: the one sampler with the exact posterior ------------------------

const N = 3000;
function fit(x: Tensor) {
  return chiSquareTest(stringCounts(dist, x), dist.probs);
}

for (const r of [0, 1]) {
  for (const steps of [2, 6, 20]) {
    test(`block oracle sampler reproduces the strings: r = ${r}, ${steps} steps (${steps / 2} per block)`, async () => {
      const rng = new Rng(40 + steps + r);
      const x = await sample({ process: proc, denoiser: enumerableDenoiser(dist, proc), grid: uniformGrid(steps), r, rng, shape: [N, L] });
      const res = fit(x);
      assert.ok(res.pValue > 0.001, `chi2 ${res.statistic.toFixed(1)} (df ${res.df}), p = ${res.pValue}`);
    });
  }
}

/** What a network gives: each masked position drawn alone from its marginal p(x0_i | x_t) (visible ones copied). */
function factorised(oracle: ReturnType<typeof enumerableDenoiser>): Denoiser {
  return {
    sample(xt, t, rng) {
      const p = oracle.probs(xt, t);
      const out = Float32Array.from(xt.data);
      for (let i = 0; i < out.length; i++) if (out[i] === MASK) out[i] = rng.categorical(p.subarray(i * V, i * V + V));
      return tensor(xt.shape, out);
    },
  };
}

test("broken step: factorised marginals revealing a whole block at once lose the within-block correlation (p < 1e-6); one position per step is exact", async () => {
  const oracle = enumerableDenoiser(dist, proc);
  const broken = fit(await sample({ process: proc, denoiser: factorised(oracle), grid: uniformGrid(2), r: 0, rng: new Rng(5), shape: [N, L] }));
  assert.ok(broken.pValue < 1e-6, `one step per block from marginals should fail: p = ${broken.pValue}`);
  // Counted-style check: with 200 steps per block two reveals in one step are rare, and the marginals suffice.
  const fine = fit(await sample({ process: proc, denoiser: factorised(oracle), grid: uniformGrid(400), r: 0, rng: new Rng(6), shape: [N, L] }));
  assert.ok(fine.pValue > 0.001, `many small steps: p = ${fine.pValue}`);
});

// ---- the bound ----------------------------------------------------------------

/** The count-form block NELBO of one string, every mask set enumerated (independent of blockNelbo's sampling). */
async function exactBlockNelbo(model: CategoricalModel, x0: number[], p = proc): Promise<number> {
  const { block: Bk, blocks: K } = p;
  let total = 0;
  for (let b = 0; b < K; b++) {
    for (let mask = 1; mask < 1 << Bk; mask++) {
      const set = Array.from({ length: Bk }, (_, j) => j).filter((j) => mask & (1 << j));
      const k = set.length;
      const sets = Array.from({ length: 1 << Bk }, (_, m) => m).filter((m) => m > 0 && popcount(m) === k).length;
      const xt = Float32Array.from(x0);
      xt.fill(MASK, (b + 1) * Bk);
      for (const j of set) xt[b * Bk + j] = MASK;
      const t = (K - 1 - b + k / Bk) / K;
      const lp = await model.logProbs(tensor([1, x0.length], xt), t);
      for (const j of set) total -= lp[(b * Bk + j) * V + x0[b * Bk + j]] / (k * sets);
    }
  }
  return total;
}
const popcount = (m: number) => m.toString(2).split("").filter((c) => c === "1").length;

test("block NELBO with the exact posterior equals -log p(x0) for every string (count form, every mask set enumerated)", async () => {
  const oracle = enumerableDenoiser(dist, proc);
  for (let i = 0; i < dist.probs.length; i++) {
    const nelbo = await exactBlockNelbo(oracle, stringAt(V, L, i));
    assert.ok(Math.abs(nelbo + Math.log(dist.probs[i])) < 1e-4, `string ${stringAt(V, L, i)}: ${nelbo} vs ${-Math.log(dist.probs[i])}`);
  }
});

test("blockNelbo (Monte Carlo) matches the entropy under the exact posterior; with blocks of 1 it is the exact chain rule", async () => {
  const oracle = enumerableDenoiser(dist, proc);
  const data = sampleEnumerable(dist, 3000, new Rng(7));
  const r = await blockNelbo(oracle, proc, data, { rng: new Rng(8), samplesPerSeq: 2 });
  const h = entropy(dist) / (L * Math.LN2);
  assert.ok(Math.abs(r.bitsPerChar - h) < 4 * r.stderrBits + 0.005, `${r.bitsPerChar} ± ${r.stderrBits} vs entropy ${h}`);
  // B = 1: one position per block, always masked: no randomness left, and the number is the chain rule.
  const ar = blockMasking({ vocab: V, length: L, block: 1 });
  const arOracle = enumerableDenoiser(dist, ar);
  const rows = sampleEnumerable(dist, 50, new Rng(9));
  const a = await blockNelbo(arOracle, ar, rows, { rng: new Rng(10) });
  const c = await autoregressiveNll(arOracle, ar, rows, { causal: false });
  assert.ok(Math.abs(a.natsPerSeq - c.natsPerSeq) < 1e-6, `${a.natsPerSeq} vs chain rule ${c.natsPerSeq}`);
});

// ---- training: objective and network --------------------------------------------

test("block objective: local time uniform on (0, 1], every block masked at m(tau), input [x_t, x0], ELBO weights m'/m", () => {
  const K = 4;
  const hits = new Float64Array(10);
  for (let i = 0; i < 4000; i++) hits[Math.min(9, Math.floor(10 * localTime((i + 0.5) / 4000, K)))]++;
  for (const h of hits) assert.equal(h, 400);
  const p = blockMasking({ vocab: 5, length: 8, block: 2 });
  const x0 = tensor([1, 8], [0, 1, 2, 3, 4, 0, 1, 2]);
  const u = tensor([1, 8], [0.1, 0.9, 0.2, 0.8, 0.05, 0.95, 0.5, 0.55]);
  const t = new Float32Array([0.3 / 4 + 0.5]); // tau = 0.3 in block 1's interval
  assert.deepEqual(Array.from(maskAllBlocks(p, x0, t, u).data), [5, 1, 5, 3, 5, 0, 1, 2]);
  const mean = blockObjective(p);
  assert.deepEqual(Array.from(mean.input!(x0, x0, t, u).data), [5, 1, 5, 3, 5, 0, 1, 2, 0, 1, 2, 3, 4, 0, 1, 2]);
  assert.deepEqual(Array.from(mean.target(x0, x0, t, u).weight!.data), [1, 0, 1, 0, 1, 0, 0, 0]);
  const w = Array.from(blockObjective(p, { weighting: "elbo" }).target(x0, x0, t, u).weight!.data);
  for (const [i, v] of w.entries()) assert.ok(Math.abs(v - ([0, 2, 4].includes(i) ? 1 / 0.3 : 0)) < 1e-4, `${i}: ${v}`);
});

test("block network: block b's logits depend on x_t of block b and x0 of blocks < b only; [B, L] input is its own context", async () => {
  const Lb = 8;
  const net = transformer({ vocab: V, length: Lb, dim: 16, heads: 2, layers: 2, window: 2, alibi: true, block: 2 });
  const params = net.init(3);
  // The output layer starts at zero; give it weights so the logits show what reaches them.
  params["out.w"].dispose();
  params["out.w"] = np.array(Float32Array.from({ length: 16 * V }, (_, i) => Math.sin(i + 1))).reshape([16, V]);
  const model = networkCategorical(net, params);
  const rng = new Rng(4);
  const base = Float32Array.from({ length: 2 * Lb }, () => rng.int(V + 1));
  for (let i = Lb; i < 2 * Lb; i++) base[i] = rng.int(V); // the clean half has no [MASK]
  const logits = async (x: Float32Array) => model.logProbs(tensor([1, x.length], x), 0.5);
  const ref = await logits(base);
  const blockOut = (lp: Float32Array, b: number) => Array.from(lp.subarray(2 * b * V, 2 * (b + 1) * V));
  const changed = (a: number[], c: number[]) => a.some((v, i) => Math.abs(v - c[i]) > 1e-5);
  for (let b = 0; b < 4; b++) {
    for (let pos = 0; pos < 2 * Lb; pos++) {
      const x = Float32Array.from(base);
      x[pos] = (x[pos] + 1) % V;
      const out = blockOut(await logits(x), b);
      const blk = Math.floor((pos % Lb) / 2);
      const seen = pos < Lb ? blk === b : blk < b;
      assert.equal(changed(out, blockOut(ref, b)), seen, `block ${b}, changing input ${pos} (${pos < Lb ? "noisy" : "clean"} block ${blk})`);
    }
  }
  // Sampling form: x_t alone is [x_t, x_t].
  const xt = base.slice(0, Lb).map((v, i) => (i < 4 ? Math.min(v, V - 1) : v));
  const half = await model.logProbs(tensor([1, Lb], xt), 0.5);
  const both = await model.logProbs(tensor([1, 2 * Lb], Float32Array.from([...xt, ...xt])), 0.5);
  for (let i = 0; i < half.length; i++) assert.ok(Math.abs(half[i] - both[i]) < 1e-5);
  model.dispose();
  assert.throws(() => transformer({ vocab: V, length: 8, block: 3 }), /block must be an integer in 1\.\.8 dividing the length 8, got 3/);
});

test("a block Transformer trained on the strings approaches their entropy (exact block NELBO)", async () => {
  const net = transformer({ vocab: V, length: L, dim: 32, heads: 2, layers: 1, window: 1, block: B });
  const data = sampleEnumerable(dist, 4000, new Rng(11));
  const res = await train({ process: proc, network: net, objective: blockObjective(proc), data, steps: 400, batchSize: 64, seed: 12, lr: 3e-3, emaDecay: 0.9 });
  const model = networkCategorical(net, res.ema);
  let nelbo = 0;
  for (let i = 0; i < dist.probs.length; i++) nelbo += dist.probs[i] * (await exactBlockNelbo(model, stringAt(V, L, i)));
  // The vectorised estimate (one [x_t, x0] row scores every block) is the sequential one, draw for draw.
  const rows = sampleEnumerable(dist, 40, new Rng(13));
  const seq = await blockNelbo(model, proc, rows, { rng: new Rng(14), samplesPerSeq: 3 });
  const vec = await blockNelbo(model, proc, rows, { rng: new Rng(14), samplesPerSeq: 3, vectorised: true });
  assert.ok(Math.abs(seq.natsPerSeq - vec.natsPerSeq) < 1e-4 && Math.abs(seq.stderrBits - vec.stderrBits) < 1e-5, `sequential ${seq.natsPerSeq} vs vectorised ${vec.natsPerSeq}`);
  model.dispose();
  const h = entropy(dist);
  console.log(`# trained block NELBO ${nelbo.toFixed(4)} nats, entropy ${h.toFixed(4)}, uniform ${(L * Math.log(V)).toFixed(4)}`);
  assert.ok(nelbo >= h - 1e-3, `a NELBO is never below the entropy: ${nelbo} < ${h}`);
  assert.ok(nelbo < h + 0.08, `trained block NELBO ${nelbo.toFixed(3)} should approach the entropy ${h.toFixed(3)}`);
});

test("CLI: udm train/sample/eval --nll with --process block; bad --block, --steps and --infill are refused", async () => {
  const { readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  await withCli("udm-block-", async ({ dir, logs, errors, main }) => {
    const tiny = ["--data", "text:carroll-alice", "--text-length", "32", "--steps", "3", "--batch-size", "8", "--tf-dim", "16", "--tf-layers", "1", "--quiet"];
    assert.equal(await main(["train", ...tiny, "--process", "block", "--block", "5", "--out", join(dir, "bad")]), 2);
    assert.ok(errors.some((e) => /--block 5 must divide the chunk length 32/.test(e)), errors.join("\n"));
    assert.equal(await main(["train", ...tiny, "--process", "block", "--block", "8", "--out", join(dir, "m")]), 0);
    assert.equal(await main(["sample", "--checkpoint", join(dir, "m"), "-n", "3", "--steps", "8", "--r", "1", "--out", join(dir, "s")]), 0);
    const rows = readFileSync(join(dir, "s", "samples.txt"), "utf8").trimEnd().split("\n");
    assert.equal(rows.length, 3);
    for (const r of rows) assert.equal([...r].length, 32);
    assert.ok(logs.some((l) => /4 blocks of 8, 2 steps each/.test(l)), logs.join("\n"));
    assert.equal(await main(["sample", "--checkpoint", join(dir, "m"), "-n", "2", "--steps", "6", "--out", join(dir, "s6")]), 2);
    assert.ok(errors.some((e) => /--steps 6: the block process generates its 4 blocks one after another/.test(e)), errors.join("\n"));
    // Without --steps: the multiple of the blocks nearest above 100 (8 blocks of 4: 104), not the generic 100.
    assert.equal(await main(["train", ...tiny, "--process", "block", "--block", "4", "--out", join(dir, "m4")]), 0);
    assert.equal(await main(["sample", "--checkpoint", join(dir, "m4"), "-n", "2", "--out", join(dir, "s4")]), 0);
    assert.ok(logs.some((l) => /8 blocks of 4, 13 steps each, 104 uniform steps/.test(l)), logs.join("\n"));
    assert.equal(await main(["sample", "--checkpoint", join(dir, "m"), "-n", "2", "--steps", "8", "--infill", "Alice __", "--out", join(dir, "inf")]), 2);
    assert.ok(errors.some((e) => /--infill: the block process generates its blocks left to right/.test(e)), errors.join("\n"));
    assert.equal(await main(["eval", "--checkpoint", join(dir, "m"), "-n", "4", "--steps", "8", "--nll", "--nll-rows", "20"]), 0);
    assert.ok(logs.some((l) => /held-out NLL: .* bits\/dim .*block NELBO \(BD3-LM\)/.test(l)), logs.join("\n"));
  });
});

test("CLI: udm demo on text with --process block samples a valid grid by default and scores words, not an energy distance", async () => {
  const { main } = await import("../src/cli/main.js");
  const { mkdtempSync, readFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "udm-block-demo-"));
  const log = console.log;
  const logs: string[] = [];
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    const out = join(dir, "demo");
    const args = ["demo", "--data", "text:carroll-alice", "--process", "block", "--block", "4", "--text-length", "32", "--steps", "3", "--batch-size", "8", "--tf-dim", "16", "--tf-layers", "1", "--out", out];
    assert.equal(await main(args), 0, logs.join("\n"));
    const metrics = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8"));
    assert.equal(metrics.samplers.length, 2);
    for (const s of metrics.samplers) {
      // 8 blocks of 4: the multiple of 8 nearest above 100; 64 chunks by default on text.
      assert.equal(s.steps, 104);
      assert.equal(s.samples, 64);
      assert.ok(s.wordShare >= 0 && s.wordShare <= 1 && s.wordShareHeldOut > 0.9, JSON.stringify(s));
      assert.equal(s["energy distance"], undefined);
    }
    assert.ok(metrics.heldOutNll.bitsPerDim > 0);
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
});
