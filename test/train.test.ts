import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { init, nn, numpy as np, tree, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { cosine, linearBeta, varianceExploding } from "../src/core/schedule.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { gaussian } from "../src/processes/gaussian.js";
import { mixtureDenoiser, sampleMixture, testMixture2d } from "../src/oracles/mixture.js";
import { mlp } from "../src/model/mlp.js";
import { timeEmbedding, timeEmbeddingHost } from "../src/model/time-embedding.js";
import { train, timeSampler, type TrainOptions } from "../src/train/train.js";
import { learningRate } from "../src/train/lr.js";
import { gaussianObjective, parameterizations } from "../src/train/objectives.js";
import { weightedLoss } from "../src/train/loss.js";
import { gaussianDenoiser, networkForward } from "../src/train/network-denoiser.js";
import { checkpointPath, fromParams, loadCheckpoint, WEIGHTS_FILE } from "../src/train/checkpoint.js";
import { sample } from "../src/core/sampler.js";
import { uniformGrid } from "../src/core/grid.js";
import { energyTest } from "../src/metrics/energy.js";

await init("wasm");

const mix = testMixture2d();
const schedule = cosine();
const process = gaussian(schedule);
const data = sampleMixture(mix, 2000, new Rng(1));
const tmp = () => mkdtempSync(join(tmpdir(), "udm-train-"));
const read = async (a: JArray) => Array.from((await a.data()) as Float32Array);

function baseOpts(over: Partial<TrainOptions> = {}): TrainOptions {
  return {
    process,
    network: mlp({ inputDim: 2, hidden: 32, depth: 2, timeDim: 16 }),
    objective: gaussianObjective(process, "x0"),
    data,
    steps: 60,
    batchSize: 32,
    lr: 3e-3,
    emaDecay: 0.9,
    seed: 11,
    ...over,
  };
}

/** Held-out MSE of x0_hat against x0 at fixed t, for a denoiser mean. */
async function heldOutMse(mean: (xt: Tensor, t: number) => Promise<Tensor> | Tensor, ts: number[], seed: number): Promise<number> {
  const rng = new Rng(seed);
  let total = 0;
  for (const t of ts) {
    const x0 = sampleMixture(mix, 1000, rng);
    const xt = process.forward(x0, t, process.noise(x0.shape, rng));
    const x0hat = await mean(xt, t);
    for (let i = 0; i < x0.data.length; i++) total += (x0hat.data[i] - x0.data[i]) ** 2;
  }
  return total / (ts.length * 1000);
}

test("training learns the posterior mean of a 2-D mixture (loss falls, EMA net near the Bayes optimum)", async () => {
  const ts = [0.2, 0.5, 0.8];
  const run = await train(baseOpts({ steps: 500, batchSize: 128, lr: 3e-3, emaDecay: 0.98, network: mlp({ inputDim: 2, hidden: 64, depth: 2, timeDim: 16 }) }));
  assert.equal(run.losses.length, 500);
  assert.ok(run.losses.every(Number.isFinite));
  const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = avg(run.losses.slice(0, 20));
  const last = avg(run.losses.slice(-50));
  assert.ok(last < 0.8 * first, `loss should fall: first 20 steps ${first.toFixed(3)}, last 50 ${last.toFixed(3)}`);

  // Bayes: the exact posterior mean; trivial: x0_hat = 0 (the untrained net's output).
  const bayes = await heldOutMse(mixtureDenoiser(mix, schedule).mean!, ts, 99);
  const trivial = await heldOutMse((xt) => tensor(xt.shape), ts, 99);
  const den = gaussianDenoiser(run.network, run.ema, process, "x0");
  const net = await heldOutMse(den.mean!, ts, 99);
  den.dispose();
  tree.dispose([run.params, run.ema]);
  assert.ok(net - bayes < 0.05 * (trivial - bayes), `net MSE ${net.toFixed(4)}, Bayes ${bayes.toFixed(4)}, trivial ${trivial.toFixed(4)}`);
});

test("end to end: a v-parameterised MLP trained 400 steps samples the mixture through the generic sampler", async () => {
  const run = await train(baseOpts({ steps: 400, batchSize: 128, lr: 3e-3, warmup: 50, emaDecay: 0.99, seed: 3,
    data: sampleMixture(mix, 5000, new Rng(1)), objective: gaussianObjective(process, "v"),
    network: mlp({ inputDim: 2, hidden: 64, depth: 2, timeDim: 16 }) }));
  const ref = sampleMixture(mix, 600, new Rng(7));
  const pValue = async (p: "x0" | "eps" | "v") => {
    const den = gaussianDenoiser(run.network, run.ema, process, p, { clip: 4 });
    const x = await sample({ process, denoiser: den, grid: uniformGrid(50), r: 0, rng: new Rng(2), shape: [600, 2] });
    den.dispose();
    return energyTest(x, ref, 200, 3).pValue;
  };
  const good = await pValue("v");
  assert.ok(good > 0.01, `DDIM samples of the trained model should match the data, p = ${good}`);
  // The same network read with the wrong parameterisation must be rejected (the test can fail).
  for (const wrong of ["x0", "eps"] as const) {
    const p = await pValue(wrong);
    assert.ok(p <= 0.01, `reading a v-network as ${wrong} should be rejected, p = ${p}`);
  }
  tree.dispose([run.params, run.ema]);
});

test("resume after a killed run gives the same weights as an uninterrupted run", async () => {
  const dirA = tmp();
  const dirB = tmp();
  // 100 rows, batches of 32: epochs wrap mid-batch, and the checkpoint (step 30) falls mid-epoch.
  const small = tensor([100, 2], data.data.slice(0, 200));
  const base = (over: Partial<TrainOptions>) => baseOpts({ data: small, ...over });
  try {
    const full = await train(base({ outDir: dirA, checkpointEvery: 30 }));
    // Kill run B at step 45: the checkpoint of step 30 is what survives.
    await assert.rejects(
      train(base({ outDir: dirB, checkpointEvery: 30, onProgress: (p) => { if (p.step === 45) throw new Error("killed"); } })),
      /killed/,
    );
    assert.equal(loadCheckpoint(dirB).config.step, 30);
    const resumed = await train(base({ outDir: dirB, checkpointEvery: 30, resume: true }));
    assert.equal(resumed.step, 60);
    assert.deepEqual(resumed.losses, full.losses);
    for (const key of ["params", "ema"] as const) {
      const a = await fromParams(full[key]);
      const b = await fromParams(resumed[key]);
      for (const name of Object.keys(a)) assert.deepEqual(b[name].data, a[name].data, `${key}.${name} differs after resume`);
    }
    // The final checkpoints agree too (Adam moments included).
    const ca = loadCheckpoint(dirA);
    const cb = loadCheckpoint(dirB);
    assert.equal(cb.config.step, 60);
    for (const name of Object.keys(ca.adamV)) assert.deepEqual(cb.adamV[name].data, ca.adamV[name].data);
    // A resumed run changed nothing that a mismatch check should reject:
    await assert.rejects(train(base({ outDir: dirB, resume: true, batchSize: 16, steps: 70 })), /batchSize 32, this run 16/);
    tree.dispose([full.params, full.ema, resumed.params, resumed.ema]);
  } finally {
    rmSync(dirA, { recursive: true, force: true });
    rmSync(dirB, { recursive: true, force: true });
  }
});

test("learning-rate schedules: warm-up, then constant, cosine or linear decay to 0 at steps or at the time budget", () => {
  const o = { lr: 0.01, warmup: 10, steps: 110 };
  for (const lrSchedule of ["constant", "cosine", "linear"] as const) {
    for (const k of [1, 5, 10]) assert.equal(learningRate({ ...o, lrSchedule }, k), (0.01 * k) / 10, `${lrSchedule} warm-up step ${k}`);
  }
  for (const k of [11, 60, 110]) assert.equal(learningRate({ ...o, lrSchedule: "constant" }, k, 1e9), 0.01);
  // Decays written out: progress p = (k - warmup) / (steps - warmup).
  for (const k of [11, 35, 60, 85, 110]) {
    const p = (k - 10) / 100;
    assert.ok(Math.abs(learningRate({ ...o, lrSchedule: "cosine" }, k) - (0.01 * (1 + Math.cos(Math.PI * p))) / 2) < 1e-15, `cosine ${k}`);
    assert.ok(Math.abs(learningRate({ ...o, lrSchedule: "linear" }, k) - 0.01 * (1 - p)) < 1e-15, `linear ${k}`);
  }
  assert.equal(learningRate({ ...o, lrSchedule: "linear" }, 110), 0);
  assert.ok(Math.abs(learningRate({ ...o, lrSchedule: "cosine" }, 60) - 0.005) < 1e-15, "half-way: lr / 2");
  // A time budget that ends first sets the progress; the step count still binds when it is the earlier end.
  const timed = { ...o, steps: 1e6, maxSeconds: 100, lrSchedule: "linear" as const };
  assert.ok(Math.abs(learningRate(timed, 20, 25) - 0.0075) < 1e-15);
  assert.equal(learningRate(timed, 20, 150), 0, "past the budget: 0, not negative");
  assert.ok(Math.abs(learningRate({ ...o, maxSeconds: 1e6, lrSchedule: "linear" }, 60, 1) - 0.005) < 1e-15);
});

test("train() steps with the scheduled learning rate, saves the schedule, and a resume may not change it", async () => {
  const dir = tmp();
  try {
    const seen: number[] = [];
    const run = await train(baseOpts({ steps: 30, warmup: 5, lrSchedule: "cosine", outDir: dir, onProgress: (p) => seen.push(p.lr) }));
    assert.deepEqual(seen, Array.from({ length: 30 }, (_, i) => learningRate({ lr: 3e-3, warmup: 5, steps: 30, lrSchedule: "cosine" }, i + 1)));
    assert.equal(seen[29], 0);
    const ck = loadCheckpoint(dir).config;
    assert.equal(ck.training.lrSchedule, "cosine");
    assert.ok(ck.seconds! > 0, "the checkpoint records the seconds trained");
    await assert.rejects(train(baseOpts({ steps: 40, warmup: 5, outDir: dir, resume: true })), /lrSchedule cosine, this run constant/);
    await assert.rejects(train(baseOpts({ lrSchedule: "step" as never })), /option lrSchedule must be constant, cosine, linear, got "step"/);
    // A budget in seconds: the rate falls with the time used, well before the step count.
    const timed: number[] = [];
    const t = await train(baseOpts({ steps: 1_000_000, maxSeconds: 1.5, lrSchedule: "linear", onProgress: (p) => timed.push(p.lr) }));
    assert.ok(timed.length > 3 && timed.length < 1_000_000);
    assert.ok(timed.at(-1)! < 0.4 * 3e-3, `last lr ${timed.at(-1)} should be near 0 at the end of the budget`);
    for (let i = 1; i < timed.length; i++) assert.ok(timed[i] <= timed[i - 1], `the rate rose at step ${i + 1}`);
    tree.dispose([run.params, run.ema, t.params, t.ema]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a NaN/Inf loss stops training with the step and value, and the last checkpoint stays intact", async () => {
  const dir = tmp();
  try {
    const good = await train(baseOpts({ steps: 10, outDir: dir }));
    tree.dispose([good.params, good.ema]);
    const before = readFileSync(join(checkpointPath(dir), WEIGHTS_FILE));
    await assert.rejects(
      train(baseOpts({ steps: 40, outDir: dir, checkpointEvery: 5, resume: true, lr: 1e30 })),
      (e: Error) => /train: (loss is (NaN|Infinity) at step \d+|weight .* = (NaN|Infinity|-Infinity) after step \d+)/.test(e.message) && /checkpoint of step 10/.test(e.message),
    );
    const after = readFileSync(join(checkpointPath(dir), WEIGHTS_FILE));
    assert.ok(before.equals(after), "the step-10 checkpoint must be left untouched");
    assert.equal(loadCheckpoint(dir).config.step, 10);
    // NaN in the data is refused up front, naming where it is.
    const bad = tensor(data.shape, Float32Array.from(data.data));
    bad.data[7] = NaN;
    await assert.rejects(train(baseOpts({ data: bad })), /data has a non-finite value NaN at flat index 7 \(row 3\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("t distribution: U(0, 1] for continuous time, the grid k/T (k = 1..T) for a discrete-time process", () => {
  const rng = new Rng(4);
  const cont = timeSampler("uniform", process)(5000, rng);
  assert.ok(cont.every((t) => t > 0 && t <= 1));
  const mean = cont.reduce((a, b) => a + b, 0) / cont.length;
  assert.ok(Math.abs(mean - 0.5) < 0.02, `mean of U(0,1] draws ${mean}`);
  const disc = timeSampler("uniform", gaussian(linearBeta(10)))(5000, rng);
  const counts = new Map<number, number>();
  for (const t of disc) counts.set(Math.round(t * 10), (counts.get(Math.round(t * 10)) ?? 0) + 1);
  assert.deepEqual([...counts.keys()].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  for (const t of disc) assert.equal(t, Math.fround(Math.round(t * 10) / 10));
  for (const c of counts.values()) assert.ok(Math.abs(c - 500) < 100);
  assert.throws(() => timeSampler((n) => new Float32Array(n).fill(2), process)(3, rng), /outside \[0, 1\]/);
});

test("objectives: x0/eps/v targets invert to x0 (VP and VE), and each is x0-MSE times its w(t)", () => {
  const rng = new Rng(8);
  for (const sched of [cosine(), varianceExploding(0.01, 10)]) {
    const proc = gaussian(sched);
    const x0 = sampleMixture(mix, 50, rng);
    const t = Float32Array.from({ length: 50 }, () => 0.05 + 0.9 * rng.uniform());
    const eps = proc.noise(x0.shape, rng);
    const xt = proc.forward(x0, t, eps);
    for (const p of parameterizations) {
      const obj = gaussianObjective(proc, p);
      const { target } = obj.target(x0, xt, t, eps);
      const back = obj.toX0(target, xt, t);
      for (let i = 0; i < x0.data.length; i++) assert.ok(Math.abs(back.data[i] - x0.data[i]) < 2e-4 * (1 + sched.b(t[i >> 1])), `${sched.name} ${p}: row ${i >> 1}`);
      // A perturbed prediction: its target-space error is w(t) times its x0-space error.
      const pert = tensor(target.shape, target.data.map((v) => v + rng.normal()));
      const x0hat = obj.toX0(pert, xt, t);
      for (let row = 0; row < 50; row++) {
        const a = sched.a(t[row]), b = sched.b(t[row]);
        const w = p === "x0" ? 1 : p === "eps" ? (a * a) / (b * b) : (a * a + b * b) ** 2 / (b * b);
        let et = 0, ex = 0;
        for (let j = 0; j < 2; j++) {
          et += (pert.data[2 * row + j] - target.data[2 * row + j]) ** 2;
          ex += (x0hat.data[2 * row + j] - x0.data[2 * row + j]) ** 2;
        }
        assert.ok(Math.abs(et - w * ex) < 1e-3 * et + 1e-6, `${sched.name} ${p} row ${row}: ${et} vs w ${w} * ${ex}`);
      }
    }
  }
  assert.throws(() => gaussianObjective(process, "score" as never), /parameterization must be one of x0, eps, v, got "score"/);
});

test("losses: mse, l1 and token cross-entropy with weights equal plain-JS formulas", async () => {
  const rng = new Rng(2);
  const out = Array.from({ length: 12 }, () => rng.normal());
  const y = Array.from({ length: 12 }, () => rng.normal());
  const w = Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? 0 : rng.uniform()));
  const A = (x: number[], s: number[]) => np.array(new Float32Array(x)).reshape(s);
  const sw = w.reduce((a, b) => a + b, 0);
  const mse = w.reduce((acc, wi, i) => acc + wi * (out[i] - y[i]) ** 2, 0) / sw;
  const l1 = w.reduce((acc, wi, i) => acc + wi * Math.abs(out[i] - y[i]), 0) / sw;
  assert.ok(Math.abs((await read(weightedLoss("mse", A(out, [3, 4]), A(y, [3, 4]), A(w, [3, 4]))))[0] - mse) < 1e-5);
  assert.ok(Math.abs((await read(weightedLoss("l1", A(out, [3, 4]), A(y, [3, 4]), A(w, [3, 4]))))[0] - l1) < 1e-5);
  // ce: logits [2, 3, V=4], ids [2, 3], mask.
  const ids = [0, 3, 1, 2, 2, 0];
  const mask = [1, 0, 1, 1, 0, 1];
  let ce = 0;
  for (let pos = 0; pos < 6; pos++) {
    const l = out.slice(0, 12).concat(y).slice(pos * 4, pos * 4 + 4);
    const lse = Math.log(l.reduce((a, v) => a + Math.exp(v), 0));
    ce += mask[pos] * (lse - l[ids[pos]]);
  }
  ce /= 4;
  const logits = out.concat(y);
  const got = (await read(weightedLoss("ce", A(logits, [2, 3, 4]), A(ids, [2, 3]), A(mask, [2, 3]))))[0];
  assert.ok(Math.abs(got - ce) < 1e-5, `ce ${got} vs ${ce}`);
  assert.throws(() => weightedLoss("mse", A(out, [3, 4]), A(y, [4, 3]), A(w, [3, 4])), /differ in shape/);
});

test("time embedding matches the sinusoidal formula; network forward chunks give the same output", async () => {
  const t = [0, 0.25, 0.999];
  const got = await read(timeEmbedding(np.array(new Float32Array(t)), 8));
  t.forEach((tv, r) => timeEmbeddingHost(tv, 8).forEach((e, j) => assert.ok(Math.abs(got[r * 8 + j] - e) < 1e-4, `t ${tv} j ${j}`)));
  const net = mlp({ inputDim: 2, hidden: 16, depth: 1, timeDim: 8 });
  const params = net.init(3);
  // Make the zero-initialised output layer non-zero so the check means something.
  params["out.w"].dispose();
  params["out.w"] = np.array(new Rng(9).normals(32)).reshape([16, 2]);
  const x = sampleMixture(mix, 20, new Rng(5));
  const whole = await networkForward(net, params)(x, 0.4);
  const chunked = await networkForward(net, params, { chunk: 7 })(x, 0.4);
  assert.deepEqual(chunked.shape, [20, 2]);
  for (let i = 0; i < 40; i++) assert.ok(Math.abs(whole.data[i] - chunked.data[i]) < 1e-6);
  assert.ok(whole.data.some((v) => Math.abs(v) > 1e-3));
  // The params were not consumed by the forward passes.
  assert.equal((await read(params["in.b"].ref)).length, 16);
  tree.dispose(params);
  void nn;
});

test("progress bar: silent when the stream is not a TTY; ETA formatting", async () => {
  const { progressBar, formatSeconds } = await import("../src/train/progress.js");
  let written = "";
  const fake = { isTTY: false, write: (s: string) => ((written += s), true) } as unknown as NodeJS.WriteStream;
  const bar = progressBar({ stream: fake });
  bar.update({ step: 1, steps: 10, loss: 1, avgLoss: 1, stepsPerSec: 5, etaSec: 2 });
  bar.stop();
  assert.equal(written, "");
  assert.equal(formatSeconds(59.6), "1m00s");
  assert.equal(formatSeconds(3725), "1h02m");
  assert.equal(formatSeconds(Infinity), "?");
});
