import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { init, tree } from "@jax-js/jax";
import type { Denoiser } from "../core/denoiser.js";
import { makeGrid, type GridKind } from "../core/grid.js";
import { Rng } from "../core/rng.js";
import { sample, type RSchedule } from "../core/sampler.js";
import { sliceBatch, type Tensor } from "../core/tensor.js";
import { energyDistance } from "../metrics/energy.js";
import { checkpointExists, loadCheckpoint, toParams, type CheckpointConfig } from "../train/checkpoint.js";
import { progressBar } from "../train/progress.js";
import type { ClassCondition } from "../train/network-denoiser.js";
import { train, type ClassLabels, type TrainResult } from "../train/train.js";
import type { Network, Params } from "../train/types.js";
import type { Chart } from "../viz/chart.js";
import { linePlot } from "../viz/lineplot.js";
import { trajectoryRecorder, type Snapshot } from "../viz/trajectory.js";
import { UsageError } from "./options.js";
import { findData, findNetwork, findProcess, type DataSet, type NetworkSpec, type ProcessSetup } from "./registry.js";

/**
 * What the commands share: rebuild data + process + network from a run
 * description, train, load a checkpoint, sample, score. The description is
 * stored in the checkpoint (config.json, metadata.udm), so `sample` and
 * `eval` rebuild exactly the trained set-up.
 */
export interface RunSpec {
  data: string;
  n: number;
  heldOut: number;
  seed: number;
  process: { name: string; options: Record<string, unknown> };
  network: { name: string; options: Record<string, unknown> };
}

export interface Setup {
  spec: RunSpec;
  data: DataSet;
  setup: ProcessSetup;
  network: Network;
}

let jaxReady: Promise<void> | undefined;

/** jax-js must be initialised (Wasm backend in Node) before any array exists. */
export function initJax(): Promise<void> {
  jaxReady ??= init("wasm").then(() => undefined);
  return jaxReady;
}

/** Load the data and build the process and the network of a run. Writes nothing. */
export async function buildSetup(spec: RunSpec): Promise<Setup> {
  const { entry, arg } = findData(spec.data);
  let data: DataSet;
  try {
    data = await entry.load({ arg, n: spec.n, heldOut: spec.heldOut, seed: spec.seed });
  } catch (e) {
    // Unreadable or malformed user data is a usage error; the message names the file and line.
    throw new UsageError((e as Error).message);
  }
  const procEntry = findProcess(spec.process.name, data.kind);
  const setup = procEntry.build(spec.process.options, data);
  const netSpec: NetworkSpec = {
    kind: data.kind,
    itemShape: data.train.shape.slice(1),
    output: setup.output,
    vocab: data.vocab,
    inputShape: setup.inputShape,
    classes: data.classNames?.length,
  };
  const chosen = (ns: NetworkSpec) => findNetwork(spec.network.name, data.kind).build(spec.network.options, ns);
  const network = setup.network ? setup.network(netSpec, chosen) : chosen(netSpec);
  return { spec, data, setup, network };
}

export interface TrainRun {
  out: string;
  steps: number;
  batchSize: number;
  lr: number;
  warmup: number;
  emaDecay: number;
  checkpointEvery: number;
  maxSeconds?: number;
  /** Class-conditional networks: how often a label is replaced by the null label. */
  labelDrop: number;
  resume: boolean;
  force: boolean;
  quiet: boolean;
}

/** Refuse to clobber an earlier run unless asked to (checked before anything is written). */
export function checkOutFolder(run: Pick<TrainRun, "out" | "resume" | "force">): void {
  const has = checkpointExists(run.out);
  if (has && !run.resume && !run.force) {
    throw new UsageError(`--out ${run.out} already holds a checkpoint; pass --resume to continue it or --force to replace it`);
  }
  if (run.resume && !has) throw new UsageError(`--resume: ${run.out} holds no checkpoint to continue`);
}

/** Train and write the checkpoint plus loss.png into run.out. */
export async function trainSetup(s: Setup, run: TrainRun, label = "train"): Promise<TrainResult & { seconds: number; lossPng: string; lossChart: Chart }> {
  await initJax();
  const bar = progressBar({ quiet: run.quiet, label });
  const t0 = performance.now();
  let result: TrainResult;
  try {
    result = await train({
      process: s.setup.process,
      network: s.network,
      objective: s.setup.objective,
      data: s.data.train,
      steps: run.steps,
      batchSize: run.batchSize,
      lr: run.lr,
      warmup: run.warmup,
      emaDecay: run.emaDecay,
      seed: s.spec.seed,
      outDir: run.out,
      checkpointEvery: run.checkpointEvery,
      maxSeconds: run.maxSeconds,
      resume: run.resume,
      labels: classLabels(s, run.labelDrop),
      onProgress: bar.update,
      metadata: { udm: s.spec, ...(s.network.config.classes ? { labelDrop: run.labelDrop } : {}) },
    });
  } finally {
    bar.stop();
  }
  const seconds = (performance.now() - t0) / 1000;
  const lossPng = join(run.out, "loss.png");
  const lossChart = linePlot([{ label: "loss", y: result.losses }], { title: `training loss: ${s.spec.process.name} on ${s.data.name}`, xLabel: "step" });
  lossChart.save(lossPng);
  return { ...result, seconds, lossPng, lossChart };
}

/** The labels a class-conditional network trains with (none for other networks). */
function classLabels(s: Setup, drop: number): ClassLabels | undefined {
  const classes = s.network.config.classes;
  if (typeof classes !== "number") return undefined;
  if (!s.data.labels) throw new UsageError(`the network is class-conditional but data ${s.data.name} has no labels`);
  return { ids: s.data.labels, classes, drop };
}

export interface Model extends Setup {
  /** The checkpoint folder. */
  dir: string;
  /** The run folder around it (where outputs go by default). */
  runDir: string;
  config: CheckpointConfig;
  params: Params;
  denoiser: Denoiser & { dispose?(): void };
}

/** Rebuild a trained model from its checkpoint; `ema` picks the EMA weights (the default). */
export async function loadModel(path: string, ema = true): Promise<Model> {
  if (!existsSync(path)) throw new UsageError(`--checkpoint: ${path} does not exist`);
  const ck = loadCheckpoint(path);
  const spec = ck.config.metadata?.udm as RunSpec | undefined;
  if (!spec || typeof spec.data !== "string" || !spec.process || !spec.network) {
    throw new UsageError(`--checkpoint: ${ck.dir} was not written by udm train (config.json has no metadata.udm)`);
  }
  const s = await buildSetup(spec);
  const want = JSON.stringify(ck.config.network.config), got = JSON.stringify(s.network.config);
  if (want !== got) throw new Error(`checkpoint ${ck.dir}: the network rebuilt from its options has config ${got}, the checkpoint holds ${want}`);
  await initJax();
  const weights = ema && Object.keys(ck.ema).length > 0 ? ck.ema : ck.params;
  const params = toParams(weights);
  const denoiser = s.setup.denoiser(s.network, params);
  return { ...s, dir: ck.dir, runDir: dirname(ck.dir), config: ck.config, params, denoiser };
}

/** Sample a class-conditional model with these labels and guidance (replaces its denoiser). */
export function conditionModel(m: Model, cond: ClassCondition): void {
  m.denoiser.dispose?.();
  m.denoiser = m.setup.denoiser(m.network, m.params, cond);
}

export function disposeModel(m: Model): void {
  m.denoiser.dispose?.();
  tree.dispose(m.params);
}

export interface SampleRequest {
  preset?: string;
  eta?: number;
  r?: number;
  steps: number;
  grid: GridKind;
  n: number;
  seed: number;
  /** Keep x_t snapshots for a trajectory picture. */
  trajectory?: boolean;
}

export interface SampleResult {
  samples: Tensor;
  label: string;
  grid: number[];
  snapshots?: Snapshot[];
  seconds: number;
}

export interface SamplerSetup {
  grid: number[];
  r: RSchedule;
  denoiser: Denoiser;
  label: string;
  rng: Rng;
}

/** The grid, r and denoiser of a sampling request: the process's preset, or the generic sampler with --r. */
export async function samplerSetup(m: Model, req: SampleRequest): Promise<SamplerSetup> {
  let grid: number[];
  try {
    grid = makeGrid(req.grid, req.steps, m.setup.process.time);
  } catch (e) {
    throw new UsageError(`--steps ${req.steps}: ${(e as Error).message}`);
  }
  const rng = new Rng(req.seed);
  if (m.setup.sampler) {
    const s = await m.setup.sampler({ preset: req.preset, eta: req.eta, r: req.r, grid, heldOut: m.data.heldOut, rng: rng.fork() }, m.denoiser);
    return { ...s, grid, rng };
  }
  if (req.preset !== undefined) throw new UsageError(`--preset: process ${m.spec.process.name} has no presets; set the kernel with --r`);
  if (req.eta !== undefined) throw new UsageError(`--eta: process ${m.spec.process.name} has no eta; set the kernel with --r`);
  const r = req.r ?? 0;
  return { grid, r, denoiser: m.denoiser, label: `r = ${r}`, rng };
}

/** Draw n samples with the one sampler, set up by the process's preset (or --r). */
export async function drawSamples(m: Model, req: SampleRequest): Promise<SampleResult> {
  const { process } = m.setup;
  const { grid, r, denoiser, label, rng } = await samplerSetup(m, req);
  const recorder = req.trajectory ? trajectoryRecorder(6) : undefined;
  const t0 = performance.now();
  const samples = await sample({
    process,
    denoiser,
    grid,
    r,
    rng,
    x1: m.setup.start?.(req.n, rng, m.data),
    shape: [req.n, ...m.data.train.shape.slice(1)],
    onStep: recorder?.onStep,
  });
  // A process may carry extra channels in x (pixel masking's mask channel): drop them from the result.
  const out = m.setup.finish ? m.setup.finish(samples) : samples;
  return { samples: out, label, grid, snapshots: recorder?.snapshots, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Energy distance of the samples to held-out data, and the same statistic
 * for training rows vs held-out: the floor that a perfect model would reach
 * at this sample size. Uses up to `max` rows of each (the cost is quadratic).
 */
export function scoreSamples(samples: Tensor, data: DataSet, max = 2000): { energy: number; floor: number; n: number } {
  const n = Math.min(samples.shape[0], data.heldOut.shape[0], data.train.shape[0], max);
  const held = sliceBatch(data.heldOut, 0, n);
  return {
    energy: energyDistance(sliceBatch(samples, 0, n), held),
    floor: energyDistance(sliceBatch(data.train, 0, n), held),
    n,
  };
}
