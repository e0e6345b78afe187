/**
 * Memory-flat check of the training loop: 10,000 steps of the MLP on a 2-D
 * mixture, RSS recorded every 500 steps. Prints a JSON summary (with the
 * load average) and exits 1 unless RSS after warm-up (the first 1,000
 * steps) stays within +-10% of one level (the middle of its range): a
 * leaked jax-js array per step would make it climb without end. V8 lets its
 * heap swing by tens of MB before a full collection; `node
 * --optimize-for-size` keeps it tight (both runs are in the README).
 *
 *   node [--optimize-for-size] --import tsx bench/memory.ts [steps] [batch]
 */
import { loadavg } from "node:os";
import { init, tree } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { cosine } from "../src/core/schedule.js";
import { gaussian } from "../src/processes/gaussian.js";
import { sampleMixture, testMixture2d } from "../src/oracles/mixture.js";
import { mlp } from "../src/model/mlp.js";
import { gaussianObjective } from "../src/train/objectives.js";
import { train } from "../src/train/train.js";

const steps = Number(process.argv[2] ?? 10000);
const batchSize = Number(process.argv[3] ?? 256);
const every = 500;
const warmup = Math.min(1000, Math.floor(steps / 5));

await init("wasm");
const proc = gaussian(cosine());
const data = sampleMixture(testMixture2d(), 10000, new Rng(1));
const mb = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const load = () => loadavg().map((x) => Number(x.toFixed(2)));
const loadAtStart = load();
const samples: { step: number; rssMB: number }[] = [{ step: 0, rssMB: mb() }];
const t0 = performance.now();
const run = await train({
  process: proc,
  network: mlp({ inputDim: 2, hidden: 128, depth: 3, timeDim: 32 }),
  objective: gaussianObjective(proc, "eps"),
  data,
  steps,
  batchSize,
  lr: 1e-3,
  seed: 0,
  onProgress: (p) => {
    if (p.step % every === 0) samples.push({ step: p.step, rssMB: mb() });
  },
});
const seconds = (performance.now() - t0) / 1000;
tree.dispose([run.params, run.ema]);

const after = samples.filter((s) => s.step >= warmup);
const base = after[0].rssMB;
const end = samples[samples.length - 1].rssMB;
const hi = Math.max(...after.map((s) => s.rssMB));
const lo = Math.min(...after.map((s) => s.rssMB));
const level = (hi + lo) / 2;
const band = (hi - lo) / 2 / level;
const summary = {
  steps,
  batchSize,
  network: "mlp(2 -> 128 x 3 -> 2)",
  seconds: Number(seconds.toFixed(1)),
  stepsPerSec: Number((steps / seconds).toFixed(1)),
  startRssMB: samples[0].rssMB,
  rssAfterWarmupMB: base,
  endRssMB: end,
  maxRssMB: Math.max(...samples.map((s) => s.rssMB)),
  rangeAfterWarmupMB: [lo, hi],
  bandAfterWarmup: `+-${(100 * band).toFixed(1)}% around ${level.toFixed(0)} MB`,
  v8Flags: process.execArgv.filter((a) => a.startsWith("--") && !a.startsWith("--import")),
  loadAverage: { start: loadAtStart, end: load() },
  finalLoss: Number((run.losses.slice(-100).reduce((a, b) => a + b, 0) / 100).toFixed(4)),
  samples,
  pass: band <= 0.1,
};
console.log(JSON.stringify(summary, null, 2));
if (!summary.pass) {
  console.error(`memory: RSS after warm-up spans ${lo}-${hi} MB, +-${(100 * band).toFixed(1)}% around ${level.toFixed(0)} MB (limit +-10%)`);
  process.exit(1);
}
