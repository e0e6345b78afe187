import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { init, tree } from "@jax-js/jax";
import type { Denoiser } from "../core/denoiser.js";
import { makeGrid, type GridKind } from "../core/grid.js";
import { Rng } from "../core/rng.js";
import { sample, type RSchedule } from "../core/sampler.js";
import { gatherBatch, itemSize, sliceBatch, type Tensor } from "../core/tensor.js";
import { energyDistance } from "../metrics/energy.js";
import { checkShapes, contentHash, loadCheckpoint, toParams, type Checkpoint, type CheckpointConfig } from "../train/checkpoint.js";
import { progressBar } from "../train/progress.js";
import type { ClassCondition } from "../train/network-denoiser.js";
import { train, type ClassLabels, type TrainResult } from "../train/train.js";
import type { LrSchedule } from "../train/lr.js";
import type { Network, Params } from "../train/types.js";
import type { Chart } from "../viz/chart.js";
import { linePlot } from "../viz/lineplot.js";
import { trajectoryRecorder, type Snapshot } from "../viz/trajectory.js";
import { resolveEngine, setEngineDefaults, type EngineChoice } from "../engine/index.js";
import { UsageError } from "./options.js";
import { findData, findNetwork, findProcess, type DataKind, type DataSet, type NetworkSpec, type ProcessSetup } from "./registry.js";
import { findSolver, GENERIC, noiseScheduleOf, samplerNames } from "./solvers.js";

/**
 * What the commands share: rebuild data + process + network from a run
 * description, train, load a checkpoint, sample, score. Training saves the
 * description, every option, the data's identity and state, and reference
 * rows in the checkpoint (SavedRun), so `sample` and `eval` rebuild exactly
 * the trained set-up without reading the data source.
 */
export interface RunSpec {
  data: string;
  /** The data entry's own options (e.g. --text-unit); absent in older checkpoints. */
  dataOptions?: Record<string, unknown>;
  n: number;
  heldOut: number;
  seed: number;
  process: { name: string; options: Record<string, unknown> };
  network: { name: string; options: Record<string, unknown> };
}

/** What the CLI saves about a run in its checkpoint (config.json, metadata.udm). */
export interface SavedRun {
  version: 2;
  /** The command that wrote it: `udm demo` replaces only its own runs. */
  command: "train" | "demo";
  spec: RunSpec;
  /** Every option of the run, checked, by camelCase key: what `--resume` compares flags with. */
  options: Record<string, unknown>;
  data: SavedData;
}

/** The identity and state of the data a model was trained on. */
export interface SavedData {
  /** The DataSet's name ("moons", "csv:points.csv"). */
  name: string;
  kind: DataKind;
  itemShape: number[];
  vocab?: number;
  trainRows: number;
  heldOutRows: number;
  /** contentHash(train, heldOut): a changed data file is refused on resume. */
  sha256: string;
  /** The DataSet's state (normalisation, vocabulary). */
  state?: Record<string, unknown>;
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

/**
 * Run every network of this command on `choice` (the --engine flag); the
 * one-line notice naming the engine (and, for auto, why it is not onnx when
 * onnxruntime-node does not load) goes to `notify` when a network first runs.
 */
export function useEngine(choice: EngineChoice = "auto", notify: (line: string) => void = say, threads?: number): void {
  setEngineDefaults({ engine: choice, notify, threads });
}

/** The notice of an engine choice, now (the demo's first line). */
export async function engineNotice(choice: EngineChoice = "auto"): Promise<string> {
  await initJax();
  return (await resolveEngine(choice)).notice;
}

/** A one-line notice on stderr (stdout stays the command's output). */
export const say = (line: string): void => void process.stderr.write(`udm: ${line}\n`);

/** Load the data and build the process and the network of a run. Writes nothing. */
export async function buildSetup(spec: RunSpec): Promise<Setup> {
  const { entry, arg } = findData(spec.data);
  const procEntry = findProcess(spec.process.name, entry.kind);
  let data: DataSet;
  try {
    data = await entry.load({ arg, n: spec.n, heldOut: spec.heldOut, seed: spec.seed, options: spec.dataOptions ?? {}, sequences: procEntry.sequences ?? "fixed" });
  } catch (e) {
    // Unreadable or malformed user data is a usage error; the message names the file and line.
    throw new UsageError((e as Error).message);
  }
  return setupFor(spec, data);
}

/** The process and the network of a run on its data. */
function setupFor(spec: RunSpec, data: DataSet): Setup {
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

/** contentHash of a DataSet's rows: the data's identity in a checkpoint. */
export const dataHash = (d: DataSet): string => contentHash(d.train, d.heldOut);

/** Training rows kept in a checkpoint for sampling (the blur prior, the energy-distance floor...). */
const REFERENCE_ROWS = 2000;
/** At most this many bytes of rows of each kind (train, held-out) in a checkpoint. */
const REFERENCE_BYTES = 16 * 2 ** 20;

/** Up to `max` rows spread evenly over the data (all of them when there are fewer). */
function referenceRows(x: Tensor, max: number): Tensor {
  const rowBytes = 4 * itemSize(x);
  const k = Math.max(1, Math.min(x.shape[0], max, Math.floor(REFERENCE_BYTES / rowBytes)));
  return k === x.shape[0] ? x : gatherBatch(x, Uint32Array.from({ length: k }, (_, i) => Math.floor((i * x.shape[0]) / k)));
}

/** The SavedRun of a set-up and its checkpoint data (reference rows). */
function savedRun(s: Setup, options: Record<string, unknown>, command: SavedRun["command"]): { saved: SavedRun; rows: Record<string, Tensor> } {
  const d = s.data;
  const saved: SavedRun = {
    version: 2,
    command,
    spec: s.spec,
    options,
    data: {
      name: d.name,
      kind: d.kind,
      itemShape: d.train.shape.slice(1),
      vocab: d.vocab,
      trainRows: d.train.shape[0],
      heldOutRows: d.heldOut.shape[0],
      sha256: dataHash(d),
      state: d.state,
    },
  };
  return { saved, rows: { train: referenceRows(d.train, REFERENCE_ROWS), heldOut: referenceRows(d.heldOut, Infinity) } };
}

/** The SavedRun in a checkpoint's config; a checkpoint written before SavedRun existed gives `legacy`. */
export function savedRunOf(config: CheckpointConfig, where: string): { saved?: SavedRun; legacy?: RunSpec } {
  const udm = config.metadata?.udm as Partial<SavedRun> & Partial<RunSpec> | undefined;
  if (udm?.version === 2 && udm.spec && udm.options && udm.data) return { saved: udm as SavedRun };
  if (udm && typeof udm.data === "string" && udm.process && udm.network) return { legacy: udm as RunSpec };
  throw new UsageError(`${where} was not written by udm train (its config.json has no metadata.udm)`);
}

/**
 * The DataSet of a trained model from its checkpoint: the data entry
 * restores it from the saved rows and state, reading nothing. An entry
 * without `restore` loads the data again, which must hash to the saved identity.
 */
async function restoreData(saved: SavedRun, ck: Checkpoint, where: string): Promise<DataSet> {
  const { entry, arg } = findData(saved.spec.data);
  const { train, heldOut } = ck.data;
  if (entry.restore && train && heldOut) {
    try {
      return entry.restore({ arg, train, heldOut, vocab: saved.data.vocab, state: saved.data.state });
    } catch (e) {
      throw new UsageError(`${where}: ${(e as Error).message}`);
    }
  }
  const { data } = await buildSetup(saved.spec);
  if (dataHash(data) !== saved.data.sha256) {
    throw new UsageError(`${where}: the data ${saved.data.name} changed since this model was trained (content hash ${dataHash(data).slice(0, 12)}..., trained on ${saved.data.sha256.slice(0, 12)}...); sampling it needs the same data`);
  }
  return data;
}

export interface TrainRun {
  out: string;
  steps: number;
  batchSize: number;
  lr: number;
  warmup: number;
  lrSchedule: LrSchedule;
  emaDecay: number;
  checkpointEvery: number;
  maxSeconds?: number;
  /** Class-conditional networks: how often a label is replaced by the null label. */
  labelDrop: number;
  resume: boolean;
  force: boolean;
  quiet: boolean;
  /** The engine the command was given (--engine); trainSetup runs on the process default set by useEngine. */
  engine?: EngineChoice;
  /** Threads of the onnx engine (--threads; default: the machine's cores). */
  threads?: number;
}

/** Train and write the checkpoint plus loss.png into run.out; `options` are saved for --resume. */
export async function trainSetup(
  s: Setup,
  run: TrainRun,
  opts: { label?: string; command?: SavedRun["command"]; options?: Record<string, unknown> } = {},
): Promise<TrainResult & { seconds: number; lossPng: string; lossChart: Chart }> {
  await initJax();
  const { saved, rows } = savedRun(s, opts.options ?? flatOptions(s.spec, run), opts.command ?? "train");
  const bar = progressBar({ quiet: run.quiet, label: opts.label ?? "train" });
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
      lrSchedule: run.lrSchedule,
      emaDecay: run.emaDecay,
      seed: s.spec.seed,
      time: s.setup.time,
      outDir: run.out,
      checkpointEvery: run.checkpointEvery,
      maxSeconds: run.maxSeconds,
      resume: run.resume,
      labels: classLabels(s, run.labelDrop),
      onProgress: bar.update,
      onPlan: (plan, engine) => {
        if (plan.count > 1) say(`batch ${run.batchSize} runs as ${plan.count} micro-batches of up to ${plan.size} rows to fit the ${engine.name} engine's memory`);
      },
      metadata: { udm: saved },
      checkpointData: rows,
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

/** Every option of a run by camelCase key (the flags' names): saved in the checkpoint, compared on --resume. */
export function flatOptions(spec: RunSpec, run: TrainRun): Record<string, unknown> {
  // What the run is, not how this invocation runs it (out, resume, force, quiet, maxSeconds are not saved).
  const { out: _o, resume: _r, force: _f, quiet: _q, maxSeconds: _m, ...training } = run as TrainRun;
  return {
    data: spec.data,
    process: spec.process.name,
    network: spec.network.name,
    trainRows: spec.n,
    heldOut: spec.heldOut,
    seed: spec.seed,
    ...spec.dataOptions,
    ...spec.process.options,
    ...spec.network.options,
    ...training,
  };
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

/** Load a checkpoint given by `flag`; every problem (missing, corrupt, non-finite) is a UsageError naming it. */
export function readModelCheckpoint(path: string, flag: string): Checkpoint {
  if (!existsSync(path)) throw new UsageError(`${flag} ${path} does not exist`);
  try {
    return loadCheckpoint(path);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: ${(e as Error).message.replace(/^checkpoint: /, "")}`);
  }
}

/**
 * Rebuild a trained model from its checkpoint alone (the data source is not
 * read); `ema` picks the EMA weights (the default). Every problem with the
 * checkpoint is a UsageError naming it: missing, not udm's, a tensor of the
 * wrong shape, non-finite weights.
 */
export async function loadModel(path: string, ema = true): Promise<Model> {
  const where = `--checkpoint ${path}`;
  const ck = readModelCheckpoint(path, "--checkpoint");
  const { saved, legacy } = savedRunOf(ck.config, `${where} (${ck.dir})`);
  const s = saved ? setupFor(saved.spec, await restoreData(saved, ck, where)) : await buildSetup(legacy!);
  const want = JSON.stringify(ck.config.network.config), got = JSON.stringify(s.network.config);
  if (want !== got) throw new UsageError(`${where}: the network rebuilt from its options has config ${got}, the checkpoint holds ${want}`);
  await initJax();
  try {
    checkShapes(ck, s.network);
  } catch (e) {
    throw new UsageError(`${where}: ${(e as Error).message.replace(/^checkpoint: /, "")}`);
  }
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
  /** "generic" (default: the one sampler, with --preset / --r) or a solver of SOLVERS. */
  sampler?: string;
  /** Tolerance of the adaptive solvers (rk45). */
  rtol?: number;
  preset?: string;
  eta?: number;
  r?: number;
  /** Default: the process's sampleSteps, else 100 (samplingSteps). */
  steps?: number;
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

/** The sampling steps of a request: --steps, else the process's default (ar: its length; block: a multiple of its blocks), else 100. */
export function samplingSteps(m: Model, req: Pick<SampleRequest, "steps">): number {
  return req.steps ?? m.setup.sampleSteps ?? 100;
}

/** The sampling grid of a request, for the process's time domain. */
function samplingGrid(m: Model, req: SampleRequest): number[] {
  const steps = samplingSteps(m, req);
  try {
    return makeGrid(req.grid, steps, m.setup.process.time);
  } catch (e) {
    throw new UsageError(`--steps ${steps}: ${(e as Error).message}`);
  }
}

/** The grid, r and denoiser of a sampling request: the process's preset, or the generic sampler with --r. */
export async function samplerSetup(m: Model, req: SampleRequest): Promise<SamplerSetup> {
  if (req.sampler !== undefined && req.sampler !== GENERIC) throw new UsageError(`--sampler ${req.sampler} does not apply here: only the generic sampler does`);
  const grid = samplingGrid(m, req);
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

/** Draw n samples with the one sampler, set up by the process's preset (or --r), or with a --sampler solver. */
export async function drawSamples(m: Model, req: SampleRequest): Promise<SampleResult> {
  if (req.sampler !== undefined && req.sampler !== GENERIC) return drawWithSolver(m, req);
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

/** A continuous-time solver of the Gaussian process (solvers.ts), where it applies. */
async function drawWithSolver(m: Model, req: SampleRequest): Promise<SampleResult> {
  const name = req.sampler!;
  const grid = samplingGrid(m, req);
  const solver = findSolver(name);
  if (!solver) throw new UsageError(`--sampler must be one of ${samplerNames().join(", ")}, got ${JSON.stringify(name)}`);
  for (const [flag, v] of [["--preset", req.preset], ["--r", req.r], ["--eta", req.eta]] as const) {
    if (v !== undefined) throw new UsageError(`${flag} sets the generic sampler; it does not apply to --sampler ${name}`);
  }
  if (req.trajectory) throw new UsageError(`--trajectory records the generic sampler only; it does not apply to --sampler ${name}`);
  const schedule = noiseScheduleOf(m.setup.process.schedule);
  if (!schedule) {
    throw new UsageError(`--sampler ${name} integrates the Gaussian process's probability-flow ODE / reverse SDE; process ${m.spec.process.name} is not Gaussian (use --sampler generic)`);
  }
  if (!m.denoiser.mean) throw new UsageError(`--sampler ${name} needs the denoiser's mean E[x0 | x_t], which process ${m.spec.process.name}'s denoiser does not give`);
  const why = solver.refuse?.(schedule);
  if (why) throw new UsageError(`--sampler ${name}: ${why}`);
  const rng = new Rng(req.seed);
  const shape = [req.n, ...m.data.train.shape.slice(1)];
  const x1 = m.setup.start?.(req.n, rng, m.data) ?? m.setup.process.prior(shape, rng);
  const t0 = performance.now();
  const res = await solver.run({ schedule, denoiser: m.denoiser, grid, x1, rng, rtol: req.rtol ?? 1e-3 });
  const samples = m.setup.finish ? m.setup.finish(res.x) : res.x;
  return { samples, label: `${name} (${res.nfe} model calls)`, grid, seconds: (performance.now() - t0) / 1000 };
}

/**
 * Energy distance of the samples to held-out data, and the same statistic
 * for training rows vs held-out: the floor that a perfect model would reach
 * at this sample size. Uses up to `max` rows of each (the cost is quadratic).
 * Undefined for token data: a distance between token ids measures nothing
 * (text is scored by its metrics, the share of real words, and --nll).
 */
export function scoreSamples(samples: Tensor, data: DataSet, max = 2000): { energy: number; floor: number; n: number } | undefined {
  if (data.kind === "tokens") return undefined;
  const n = Math.min(samples.shape[0], data.heldOut.shape[0], data.train.shape[0], max);
  const held = sliceBatch(data.heldOut, 0, n);
  return {
    energy: energyDistance(sliceBatch(samples, 0, n), held),
    floor: energyDistance(sliceBatch(data.train, 0, n), held),
    n,
  };
}
