/**
 * Images benchmark: each setting trains for the same wall-clock budget on
 * MNIST or Fashion-MNIST, then is scored by ONE code path: the conv
 * classifier's Frechet distance to the test set (with its floor, n training
 * images, and ceiling, n noise images, at the same n) and the entropy of the
 * predicted classes, for r = 0 and r = 1 at several step counts, plus sample
 * grids.
 *
 *   node --import tsx bench/images.ts --setting <name> [--data mnist|fashion] [--seconds 1200] [--force] [--score-only]
 *       [--samples 1000] [--sample-steps 10,50,200] [--runs bench/out/images] [--docs docs/images]
 *   node --import tsx bench/images.ts --report [--data mnist|fashion]     # the README table from the saved results
 *
 * Settings (network and training flags are the CLI's defaults unless given
 * with --channels, --batch, --lr, --ema; --engine is passed to udm train):
 *   gaussian       udm train --process gaussian (cosine, v-prediction)
 *   heat           udm train --process heat --sigma 0.05 (hot)
 *   blur           udm train --process blur --sigma 0.05 (hot)
 *   heat-noise     udm train --process heat --noise cosine --loss mse (blurring diffusion)
 *   mask           udm train --process mask (categorical pixels, 16 levels)
 *   torch          bench/images_torch.py: the PyTorch twin of gaussian, same budget, scored here
 *   gaussian-cond  udm train --process gaussian --conditional: also scores --class all with guidance 0, 1, 3
 * Every CLI setting is literally `udm train ... --max-seconds S --out bench/out/images/<data>/<setting>`;
 * its samples are what `udm sample` draws from that checkpoint.
 * Results: bench/out/images/<data>/<setting>/result.json; grids: docs/images/bench-<data>-<setting>-r<r>-50.png
 * (and every step count under bench/out).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { trainSchema } from "../src/cli/common.js";
import { buildSetup, conditionModel, disposeModel, drawSamples, initJax, loadModel, type Model, type RunSpec } from "../src/cli/pipeline.js";
import { findNetwork } from "../src/cli/registry.js";
import { gatherBatch, sliceBatch, type Tensor } from "../src/core/tensor.js";
import { fashionMnist, mnist } from "../src/data/mnist.js";
import { classify, frechetScale, loadClassifier, reference, sampleQuality, type Classifier, type Reference } from "../src/images/classifier.js";
import { paramCount } from "../src/model/layers.js";
import { CHECKPOINT_DIR, saveCheckpoint, type CheckpointConfig } from "../src/train/checkpoint.js";
import { decodeSafetensors } from "../src/train/safetensors.js";
import { imageGrid } from "../src/viz/image-grid.js";
import { arg, asFlags, given, has, settingsMain, udm } from "./udm.js";


const data = arg("data", "mnist");
if (data !== "mnist" && data !== "fashion") throw new Error(`bench/images: --data must be mnist or fashion, got ${data}`);
const seconds = Number(arg("seconds", "1200"));
const root = join(arg("runs", "bench/out/images"), data);
const nSamples = Number(arg("samples", "1000"));
const stepsList = arg("sample-steps", "10,50,200").split(",").map(Number);
const gridSteps = 50;
/** Where the README's grids go (--docs elsewhere for a trial run). */
const docs = arg("docs", "docs/images");
const netOptions = { channels: given("channels"), attention: given("attention") };
const trainOptions = { batchSize: given("batch"), lr: given("lr"), emaDecay: given("ema"), warmup: given("warmup") };
const engineFlags = has("engine") ? ["--engine", arg("engine", "")] : [];
const sharedFlags = [...asFlags(netOptions), ...asFlags(trainOptions), ...engineFlags];

const settings: Record<string, { flags: string[]; label: string }> = {
  gaussian: { flags: ["--process", "gaussian"], label: "Gaussian (cosine, v)" },
  heat: { flags: ["--process", "heat", "--sigma", "0.05"], label: "heat (hot, sigma 0.05)" },
  blur: { flags: ["--process", "blur", "--sigma", "0.05"], label: "blur (hot, sigma 0.05)" },
  "heat-noise": { flags: ["--process", "heat", "--noise", "cosine", "--loss", "mse"], label: "heat + cosine noise (blurring diffusion)" },
  mask: { flags: ["--process", "mask", "--levels", "16"], label: "pixel masking (16 levels)" },
  torch: { flags: ["--process", "gaussian"], label: "PyTorch twin of Gaussian" },
  "gaussian-cond": { flags: ["--process", "gaussian", "--conditional"], label: "Gaussian, class-conditional (null label)" },
};

interface Cell {
  r: number;
  steps: number;
  frechet: number;
  entropy: number;
  seconds: number;
}

interface Guided {
  guidance: number;
  /** Share of samples the classifier puts in the asked class. */
  asked: number;
  frechet: number;
}

interface Result {
  setting: string;
  label: string;
  command: string;
  data: string;
  budgetSeconds: number;
  trainSteps: number;
  trainSeconds: number;
  weights: number;
  network: Record<string, unknown>;
  samples: number;
  floor: number;
  ceiling: number;
  cells: Cell[];
  guided?: Guided[];
  loadAverage: number[];
}

const load = data === "mnist" ? mnist : fashionMnist;
let scorer: { clf: Classifier; ref: Reference; scale: { floor: number; ceiling: number } } | undefined;

/** The classifier, the test-set reference (all 10 000 test images) and the floor/ceiling at n samples. */
async function getScorer() {
  if (scorer) return scorer;
  await initJax();
  const clf = loadClassifier(data);
  const ref = await reference(clf, load({ split: "test" }).images);
  const scale = await frechetScale(clf, load({ split: "train" }).images, ref, nSamples);
  return (scorer = { clf, ref, scale });
}

/** FD / entropy for r = 0 and 1 at every step count, and a grid of each: the same for every setting. */
async function score(setting: string, m: Model, trainSteps: number, trainSeconds: number, command: string): Promise<Result> {
  const { clf, ref, scale } = await getScorer();
  console.log(`# scoring ${setting}: ${nSamples} samples per setting; floor ${scale.floor.toFixed(2)}, ceiling ${scale.ceiling.toFixed(2)}`);
  const cells: Cell[] = [];
  mkdirSync(docs, { recursive: true });
  for (const r of [0, 1]) {
    for (const steps of stepsList) {
      const res = await drawSamples(m, { r, steps, grid: "uniform", n: nSamples, seed: 2 });
      const q = await sampleQuality(clf, res.samples, ref);
      cells.push({ r, steps, frechet: q.frechet, entropy: q.entropy, seconds: res.seconds });
      console.log(`#   r = ${r}, ${steps} steps: FD ${q.frechet.toFixed(2)}, entropy ${q.entropy.toFixed(3)} (${res.seconds.toFixed(0)} s)`);
      const grid = imageGrid(sliceBatch(res.samples, 0, Math.min(64, nSamples)), { cols: 8, scale: 2, title: `${setting} ${data}, r=${r}, ${steps} steps` });
      grid.save(join(root, setting, `grid-r${r}-${steps}.png`));
      if (steps === gridSteps) grid.save(join(docs, `bench-${data}-${setting}-r${r}-${steps}.png`));
    }
  }
  const guided = typeof m.network.config.classes === "number" ? await scoreGuidance(setting, m) : undefined;
  return {
    setting,
    label: settings[setting].label,
    command,
    data,
    budgetSeconds: seconds,
    trainSteps,
    trainSeconds,
    weights: paramCount(m.params),
    network: m.network.config,
    samples: nSamples,
    floor: scale.floor,
    ceiling: scale.ceiling,
    cells,
    guided,
    loadAverage: loadavg(),
  };
}

/** Class-conditional models: sample i asks for class i mod 10; how often the classifier agrees, per guidance weight. */
async function scoreGuidance(setting: string, m: Model): Promise<Guided[]> {
  const { clf, ref } = await getScorer();
  const out: Guided[] = [];
  const asked = Float32Array.from({ length: nSamples }, (_, i) => i % 10);
  for (const w of [0, 1, 3]) {
    conditionModel(m, { label: asked, classes: 10, guidance: w });
    const res = await drawSamples(m, { r: 0, steps: gridSteps, grid: "uniform", n: nSamples, seed: 3 });
    const { predictions } = await classify(clf, res.samples);
    const share = predictions.filter((p, i) => p === asked[i]).length / nSamples;
    const q = await sampleQuality(clf, res.samples, ref);
    out.push({ guidance: w, asked: share, frechet: q.frechet });
    console.log(`#   --class all --guidance ${w}: ${(100 * share).toFixed(1)}% classified as asked, FD ${q.frechet.toFixed(2)}`);
    // Rows = classes 0..9, 10 samples each.
    const per = Math.min(10, Math.floor(nSamples / 10));
    const order = Uint32Array.from({ length: 10 * per }, (_, k) => (k % per) * 10 + Math.floor(k / per));
    imageGrid(gatherBatch(res.samples, order) as Tensor, { cols: per, scale: 2, title: `${data}: row c = class c, guidance ${w}` }).save(join(docs, `bench-${data}-${setting}-guidance${w}.png`));
  }
  return out;
}

/** Train with the CLI (udm train), then load the checkpoint as udm sample does. */
async function runCli(setting: string, dir: string): Promise<Result> {
  const args = ["train", "--data", data, "--train-rows", "60000", ...settings[setting].flags, ...sharedFlags, "--steps", "10000000", "--max-seconds", String(seconds), "--out", dir, ...(has("force") ? ["--force"] : [])];
  const command = `udm ${args.join(" ")}`;
  console.log(`# ${command}`);
  let trainSeconds = NaN;
  if (!has("score-only")) {
    const t0 = performance.now();
    await udm(args, true);
    trainSeconds = (performance.now() - t0) / 1000;
  }
  const m = await loadModel(dir);
  try {
    return await score(setting, m, m.config.step, trainSeconds, command);
  } finally {
    disposeModel(m);
  }
}

/** The PyTorch twin: same data, network and training options, same budget; its weights wrapped in a udm checkpoint and scored above. */
async function runTorch(dir: string): Promise<Result> {
  await initJax();
  const net = findNetwork("unet", "image").options.parse(Object.fromEntries(Object.entries(netOptions).filter(([, v]) => v !== undefined)));
  const spec: RunSpec = { data, n: 60000, heldOut: 2000, seed: 0, process: { name: "gaussian", options: { schedule: "cosine", objective: "v" } }, network: { name: "unet", options: net } };
  const s = await buildSetup(spec);
  const t = trainSchema({ out: dir, steps: 1 }).parse(Object.fromEntries(Object.entries(trainOptions).filter(([, v]) => v !== undefined).map(([k, v]) => [k, Number(v)])));
  const dataDir = join(dir, "data");
  mkdirSync(dataDir, { recursive: true });
  const x = s.data.train;
  writeFileSync(join(dataDir, "train.f32"), Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength));
  writeFileSync(join(dataDir, "meta.json"), JSON.stringify({ shape: x.shape.slice(1), unet: s.network.config }));
  const pyArgs = [
    "bench/images_torch.py", "--data", dataDir, "--out", join(dir, "weights.safetensors"), "--seconds", String(seconds), "--threads", arg("threads", "2"),
    "--batch", String(t.batchSize), "--lr", String(t.lr), "--warmup", String(t.warmup), "--ema", String(t.emaDecay),
  ];
  const command = `/usr/bin/python3 ${pyArgs.join(" ")}`;
  console.log(`# ${command}`);
  let steps = NaN, trainSeconds = NaN;
  if (!has("score-only")) {
    const py = spawnSync("/usr/bin/python3", pyArgs, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 28 });
    if (py.status !== 0) throw new Error(`bench/images: the PyTorch twin failed (${py.status}); is python3-torch installed? (apt-get install python3-torch libopenblas0-pthread)`);
    const out = JSON.parse(py.stdout.trim().split("\n").pop()!) as { steps: number; seconds: number; losses: number[] };
    ({ steps, seconds: trainSeconds } = out);
    // A udm checkpoint of the twin's weights, so `udm sample --checkpoint` and this scorer load it like any other.
    const w = decodeSafetensors(readFileSync(join(dir, "weights.safetensors"))).tensors;
    const pick = (prefix: string) => Object.fromEntries(Object.entries(w).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
    const config: CheckpointConfig = {
      format: "udm-checkpoint",
      version: 1,
      network: { name: s.network.name, config: s.network.config },
      process: s.setup.process.name,
      objective: { loss: "mse", kind: "gaussian", parameterization: "v", schedule: "cosine", trainedBy: "bench/images_torch.py" },
      step: steps,
      seed: 0,
      training: { steps, batchSize: t.batchSize, lr: t.lr, warmup: t.warmup, emaDecay: t.emaDecay, adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, time: "uniform", dataRows: x.shape[0] },
      rng: { noise: [], dataEpochStart: [], dataCursor: 0 },
      losses: out.losses,
      metadata: { udm: spec, torch: { seconds: trainSeconds } },
      savedAt: new Date().toISOString(),
    };
    saveCheckpoint(join(dir, CHECKPOINT_DIR), config, { params: pick("params."), ema: pick("ema."), adamM: {}, adamV: {} });
  }
  const m = await loadModel(dir);
  // --score-only: the training time the checkpoint recorded.
  if (Number.isNaN(trainSeconds)) trainSeconds = (m.config.metadata as { torch?: { seconds?: number } } | undefined)?.torch?.seconds ?? NaN;
  try {
    return await score("torch", m, m.config.step, trainSeconds, command);
  } finally {
    disposeModel(m);
  }
}

function report(): void {
  const results = Object.keys(settings)
    .map((s) => join(root, s, "result.json"))
    .filter(existsSync)
    .map((f) => JSON.parse(readFileSync(f, "utf8")) as Result);
  if (results.length === 0) throw new Error(`bench/images --report: no results under ${root}; run the settings first`);
  const r0 = results[0];
  console.log(`${data === "mnist" ? "MNIST" : "Fashion-MNIST"}: ${r0.budgetSeconds} s of training per setting, ${r0.samples} samples per cell, scored against the 10 000 test images.`);
  console.log(`FD floor (${r0.samples} training images) ${r0.floor.toFixed(2)}, ceiling (${r0.samples} noise images) ${r0.ceiling.toFixed(2)}; H = class entropy (ln 10 = 2.303 balanced).\n`);
  const cols = [0, 1].flatMap((r) => stepsList.map((s) => ({ r, s })));
  console.log(`| setting | weights | train steps | ${cols.map((c) => `r = ${c.r}, ${c.s} steps: FD / H`).join(" | ")} |`);
  console.log(`| --- | --- | --- | ${cols.map(() => "---").join(" | ")} |`);
  for (const r of results) {
    const cell = (c: { r: number; s: number }) => {
      const x = r.cells.find((y) => y.r === c.r && y.steps === c.s);
      return x ? `${x.frechet.toFixed(2)} / ${x.entropy.toFixed(2)}` : "";
    };
    console.log(`| ${r.label} | ${(r.weights / 1e3).toFixed(0)}k | ${r.trainSteps} | ${cols.map(cell).join(" | ")} |`);
  }
  console.log(`| ${r0.samples} training images (floor) / noise (ceiling) | | | ${r0.floor.toFixed(2)} / ${r0.ceiling.toFixed(2)} | |`);
  for (const r of results.filter((x) => x.guided)) {
    console.log(`\n${r.label}, --class all, r = 0, ${gridSteps} steps: ${r.guided!.map((g) => `guidance ${g.guidance}: ${(100 * g.asked).toFixed(1)}% classified as asked (FD ${g.frechet.toFixed(2)})`).join("; ")}`);
  }
  console.log("\nCommands:\n```sh");
  for (const r of results) console.log(r.command);
  console.log("```");
  console.log(`\nLoad averages during scoring: ${results.map((r) => `${r.setting} ${r.loadAverage[0].toFixed(1)}`).join(", ")}`);
}

await settingsMain("images", root, settings, { report, torch: runTorch, cli: runCli });
