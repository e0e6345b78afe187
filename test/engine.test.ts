import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { init, numpy as np, tree, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { cosine } from "../src/core/schedule.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { resolveEngine, type Engine } from "../src/engine/index.js";
import { gaussian } from "../src/processes/gaussian.js";
import { sampleMixture, testMixture2d } from "../src/oracles/mixture.js";
import { mlp } from "../src/model/mlp.js";
import { unet } from "../src/model/unet.js";
import { train, type TrainOptions, type TrainResult } from "../src/train/train.js";
import { gaussianObjective } from "../src/train/objectives.js";
import { weightedLoss } from "../src/train/loss.js";
import { networkForward } from "../src/train/network-denoiser.js";
import { fromParams, loadCheckpoint, checkpointPath } from "../src/train/checkpoint.js";
import type { Network, Params } from "../src/train/types.js";
import { destruction } from "../src/core/schedule.js";
import { masking } from "../src/processes/masking.js";
import { replacement } from "../src/processes/replacement.js";
import { deletion } from "../src/processes/deletion.js";
import { sampleEnumerable, testStrings } from "../src/oracles/enumerable.js";
import { sampleStrings, testSequences } from "../src/oracles/sequences.js";
import { tokenObjective } from "../src/text/objective.js";
import { insertionObjective } from "../src/text/insertion.js";
import { transformer } from "../src/model/transformer.js";
import { insertionTransformer } from "../src/model/insertion.js";

/**
 * The engine seam: the jax and onnx back ends train to the same weights, a
 * run resumes across engines, a batch split into chunks (forward) or
 * micro-batches (train step) gives the unsplit result, and "auto" falls back
 * to jax when onnxruntime-node does not load.
 */

await init("wasm");

const jax = (await resolveEngine("jax")).engine;
const onnx = (await resolveEngine("onnx")).engine;
const process_ = gaussian(cosine());
const data = sampleMixture(testMixture2d(), 1000, new Rng(1));
const tmp = () => mkdtempSync(join(tmpdir(), "udm-engine-"));

function opts(engine: Engine, over: Partial<TrainOptions> = {}): TrainOptions {
  return {
    process: process_,
    network: mlp({ inputDim: 2, hidden: 32, depth: 2, timeDim: 16 }),
    objective: gaussianObjective(process_, "v"),
    data,
    steps: 50,
    batchSize: 64,
    lr: 3e-3,
    warmup: 5,
    emaDecay: 0.9,
    seed: 3,
    engine,
    ...over,
  };
}

/** ||a - b|| / ||b|| over every weight of both groups (params and EMA). */
async function relDiff(a: TrainResult, b: TrainResult): Promise<number> {
  let num = 0;
  let den = 0;
  for (const g of ["params", "ema"] as const) {
    const [x, y] = [await fromParams(a[g]), await fromParams(b[g])];
    assert.deepEqual(Object.keys(x).sort(), Object.keys(y).sort());
    for (const k of Object.keys(x)) {
      for (let i = 0; i < x[k].data.length; i++) {
        num += (x[k].data[i] - y[k].data[i]) ** 2;
        den += y[k].data[i] ** 2;
      }
    }
  }
  return Math.sqrt(num / den);
}

const done = (...rs: TrainResult[]) => {
  for (const r of rs) tree.dispose([r.params, r.ema]);
};

/** The engine with a smaller memory budget, to force the split paths. */
const withBudget = (e: Engine, budget: number): Engine => ({ ...e, budget });

test("50 training steps on jax and on onnx end with the same weights (MLP, 1e-4 relative)", async () => {
  const a = await train(opts(jax));
  const b = await train(opts(onnx));
  assert.equal(a.losses.length, 50);
  for (let i = 0; i < 50; i++) assert.ok(Math.abs(a.losses[i] - b.losses[i]) <= 1e-4 * Math.abs(a.losses[i]) + 1e-6, `loss ${i}: jax ${a.losses[i]}, onnx ${b.losses[i]}`);
  const d = await relDiff(b, a);
  assert.ok(d < 1e-4, `relative weight difference ${d}`);
  // The weights moved: equal weights are not the untouched init.
  const init0 = opts(jax).network.init(3);
  const moved = Math.abs((await a.params["in.w"].ref.data())[0] - (await init0["in.w"].ref.data())[0]);
  tree.dispose(init0);
  assert.ok(moved > 1e-3, "training changed the weights");
  done(a, b);
});

test("a small UNet trains to the same weights on both engines", async () => {
  const imgs = tensor([16, 1, 8, 8], Float32Array.from({ length: 16 * 64 }, (_, i) => Math.sin(i * 0.37)));
  const net = unet({ inChannels: 1, channels: [4, 8], groups: 2, timeDim: 8 });
  const o = (engine: Engine) => opts(engine, { network: net, data: imgs, steps: 4, batchSize: 8 });
  const a = await train(o(jax));
  const b = await train(o(onnx));
  const d = await relDiff(b, a);
  assert.ok(d < 1e-4, `relative weight difference ${d}`);
  done(a, b);
});

test("a run resumes across engines: 25 steps on jax + 25 on onnx equal 50 on either", async () => {
  const dir = tmp();
  try {
    await train(opts(jax, { steps: 25, outDir: dir })).then((r) => done(r));
    assert.equal(loadCheckpoint(checkpointPath(dir)).config.step, 25);
    const resumed = await train(opts(onnx, { steps: 50, outDir: dir, resume: true }));
    const straightJax = await train(opts(jax));
    const straightOnnx = await train(opts(onnx));
    assert.equal(resumed.losses.length, 50);
    assert.ok((await relDiff(resumed, straightJax)) < 1e-4, "resumed vs 50 steps on jax");
    assert.ok((await relDiff(resumed, straightOnnx)) < 1e-4, "resumed vs 50 steps on onnx");
    done(resumed, straightJax, straightOnnx);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a batch too big for the engine trains in micro-batches with the unsplit step's weights", async () => {
  // The onnx engine counts the values alive at once: for the MLP its optimizer state outweighs any batch,
  // so it runs a small UNet, whose activations grow with the batch (jax-js runs the MLP: a UNet step takes it 2 s).
  const imgs = tensor([64, 1, 8, 8], Float32Array.from({ length: 64 * 64 }, (_, i) => Math.cos(i * 0.21)));
  const cases: [Engine, Partial<TrainOptions>][] = [
    [jax, {}],
    [onnx, { network: unet({ inChannels: 1, channels: [4, 8], groups: 2, timeDim: 8 }), data: imgs }],
  ];
  for (const [engine, model] of cases) {
    const o = (e: Engine, more: Partial<TrainOptions> = {}) => opts(e, { ...model, steps: 10, batchSize: 30, ...more });
    const whole = await train(o(engine));
    assert.deepEqual([whole.plan!.size, whole.plan!.count], [30, 1]);
    // Asked for: 30 rows as micro-batches of 8, 8, 8 and 6.
    const asked = await train(o(engine, { microBatch: 8 }));
    assert.deepEqual([asked.plan!.size, asked.plan!.count], [8, 4]);
    // Forced by memory: a budget for about 12 rows of the unsplit step.
    const { bytesPerRow, fixedBytes } = whole.plan!;
    assert.ok(bytesPerRow > 0, `${engine.name}: the step's footprint grows with the batch`);
    const forced = await train(o(withBudget(engine, fixedBytes + 12 * bytesPerRow)));
    assert.ok(forced.plan!.count > 1 && forced.plan!.size < 30, `${engine.name}: split by the budget: ${JSON.stringify(forced.plan)}`);
    for (const split of [asked, forced]) {
      const d = await relDiff(split, whole);
      assert.ok(d < 1e-5, `${engine.name}: relative weight difference ${d}`);
      for (let i = 0; i < 10; i++) assert.ok(Math.abs(split.losses[i] - whole.losses[i]) <= 1e-5 * whole.losses[i], `${engine.name} loss ${i}: ${split.losses[i]} vs ${whole.losses[i]}`);
    }
    done(whole, asked, forced);
  }
});

test("the onnx memory plan counts grad's broadcast products of a dense layer at their source's size (the lowering keeps them lazy)", async () => {
  const { makeJaxpr, grad } = await import("@jax-js/jax");
  const { ArraySpec } = await import("../src/engine/engine.js");
  const { programMemory } = await import("../src/engine/memory.js");
  const [R, I, O] = [64, 128, 512];
  const loss = (w: JArray, x: JArray) => np.tanh(np.matmul(x, w)).sum();
  const { jaxpr } = makeJaxpr((w: JArray, x: JArray) => grad(loss)(w, x))(new ArraySpec([I, O]) as never, new ArraySpec([R, I]) as never);
  try {
    const m = programMemory(jaxpr);
    const product = R * I * O * 4; // the [R, I, O] broadcast grad's transpose rule writes for the weight gradient
    assert.ok(m.total >= product, `the trace does hold the broadcast product (total ${m.total})`);
    // What is really alive: weights, gradient, and tanh's [R, O] residuals (jax-js keeps 8 of them).
    assert.ok(m.peak < product / 4, `peak ${m.peak} bytes should be what the arrays need, not the ${product}-byte product`);
  } finally {
    jaxpr.dispose();
  }
});

test("custom losses that carry their sums (masking and replacement ELBO, insertion) train the same in micro-batches", async () => {
  const strings = testStrings();
  const tokens = sampleEnumerable(strings, 400, new Rng(1));
  const seqs = testSequences();
  const deletionProcess = deletion({ vocab: seqs.V });
  const cases = [
    { process: masking({ vocab: strings.V, schedule: destruction.cosine() }) },
    { process: replacement({ vocab: strings.V, schedule: destruction.cosine() }) },
  ].map(({ process }) => ({
    name: process.name,
    o: { process, objective: tokenObjective(process, { weighting: "elbo" }), data: tokens, network: transformer({ vocab: process.vocab, length: strings.L, dim: 16, heads: 2, layers: 1, timeDim: 8 }) },
  }));
  cases.push({
    name: "insertion",
    o: { process: deletionProcess as never, objective: insertionObjective(deletionProcess, seqs.maxLength) as never, data: sampleStrings(seqs, 400, new Rng(1)), network: insertionTransformer({ vocab: seqs.V, maxLength: seqs.maxLength, dim: 16, heads: 2, layers: 1, timeDim: 8 }) },
  });
  for (const { name, o } of cases) {
    assert.equal(typeof (o.objective.loss as { sums?: unknown }).sums, "function", `${name}: the loss has sums`);
    const whole = await train(opts(onnx, { ...o, steps: 3, batchSize: 13 }));
    const split = await train(opts(onnx, { ...o, steps: 3, batchSize: 13, microBatch: 5 }));
    assert.deepEqual([split.plan!.size, split.plan!.count], [5, 3]); // 5 + 5 + 3 rows
    const d = await relDiff(split, whole);
    assert.ok(d < 1e-5, `${name}: relative weight difference ${d}`);
    for (let i = 0; i < 3; i++) assert.ok(Math.abs(split.losses[i] - whole.losses[i]) <= 1e-5 * Math.abs(whole.losses[i]), `${name} loss ${i}: ${split.losses[i]} vs ${whole.losses[i]}`);
    done(whole, split);
  }
});

test("a custom loss without sums cannot be split: the error names --batch-size and the largest that fits", async () => {
  const objective = { ...gaussianObjective(process_, "v"), loss: (out: JArray, y: JArray, w: JArray) => weightedLoss("mse", out, y, w) };
  const probe = await train(opts(jax, { objective, steps: 1, batchSize: 30 }));
  const { bytesPerRow, fixedBytes } = probe.plan!;
  done(probe);
  await assert.rejects(train(opts(withBudget(jax, fixedBytes + 12.5 * bytesPerRow), { objective, steps: 1, batchSize: 30 })), /--batch-size 30 needs .* custom loss cannot be split .*the largest --batch-size that fits is 12$/);
});

test("a row that cannot fit even alone is a one-line error naming the flag", async () => {
  await assert.rejects(train(opts(withBudget(jax, 1000), { steps: 1 })), /no --batch-size fits/);
  const net = mlp({ inputDim: 2 });
  const p = net.init(0);
  const fwd = networkForward(net, p, { engine: withBudget(jax, 1000) });
  await assert.rejects(fwd(tensor([3, 2]), 0.5), /one row needs .* on the jax engine/);
  fwd.dispose();
  tree.dispose(p);
});

/** Weights with every value random (the nets zero-init their output layer, which would hide differences). */
function randomParams(net: Network, seed: number): Params {
  const rng = new Rng(seed);
  const out: Params = {};
  for (const [k, v] of Object.entries(net.init(0))) {
    out[k] = np.array(Float32Array.from({ length: v.size }, () => 0.2 * rng.normal())).reshape(v.shape);
    v.dispose();
  }
  return out;
}

const randomTensor = (shape: number[], rng: Rng): Tensor => tensor(shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()));

test("the forward gives the same output whole, in chunks, and on either engine", async () => {
  const nets: [Network, number[]][] = [
    [mlp({ inputDim: 2 }), [23, 2]],
    [unet({ inChannels: 1, channels: [4, 8], groups: 2, timeDim: 8 }), [9, 1, 8, 8]],
  ];
  for (const [net, shape] of nets) {
    const p = randomParams(net, 4);
    const x = randomTensor(shape, new Rng(2));
    const ref = await networkForward(net, p, { engine: jax })(x, 0.4);
    const scale = Math.max(...ref.data.map(Math.abs));
    assert.ok(scale > 0.01, `the output is not trivially zero (${scale})`);
    for (const engine of [jax, onnx]) {
      for (const chunk of [undefined, 4, 5]) {
        const f = networkForward(net, p, { engine, chunk });
        const y = await f(x, 0.4);
        f.dispose();
        assert.deepEqual(y.shape, ref.shape);
        const err = Math.max(...y.data.map((v, i) => Math.abs(v - ref.data[i])));
        assert.ok(err <= 1e-5 * scale, `${net.name} ${engine.name} chunk ${chunk}: max difference ${err} (scale ${scale})`);
      }
    }
    // Chunks also come from the engine's memory: a budget for 3.5 rows runs a batch of 9 as 3 x 3.
    for (const engine of [jax, onnx]) {
      const { fixed, perRow } = await networkForward(net, p, { engine }).plan(x);
      const f = networkForward(net, p, { engine: withBudget(engine, fixed + 3.5 * perRow) });
      assert.equal((await f.plan(x)).rows, 3);
      const y = await f(x, 0.4);
      f.dispose();
      const err = Math.max(...y.data.map((v, i) => Math.abs(v - ref.data[i])));
      assert.ok(err <= 1e-5 * scale, `${net.name} ${engine.name} budget-sized chunks: max difference ${err}`);
    }
    tree.dispose(p);
  }
});

test("auto picks onnx when onnxruntime-node loads and falls back to jax (with the reason) when it does not", async () => {
  const ok = await resolveEngine("auto");
  assert.equal(ok.engine.name, "onnx");
  assert.match(ok.notice, /^engine: onnx \(onnxruntime-node [\d.]+, \d+ threads?\)$/);
  const broken = () => Promise.reject(new Error("libonnxruntime.so.1: cannot open shared object file"));
  const fell = await resolveEngine("auto", { loadOnnx: broken });
  assert.equal(fell.engine.name, "jax");
  assert.match(fell.notice, /engine: jax .*onnxruntime-node did not load: libonnxruntime\.so\.1: cannot open shared object file/);
  await assert.rejects(resolveEngine("onnx", { loadOnnx: broken }), /engine onnx: onnxruntime-node did not load \(libonnxruntime/);
  assert.throws(() => resolveEngine("tpu" as never), /engine must be one of auto, jax, onnx, got "tpu"/);
});
