import { tree } from "@jax-js/jax";
import type { Process } from "../core/process.js";
import { Rng } from "../core/rng.js";
import { gatherBatch, tensor, type Tensor } from "../core/tensor.js";
import type { Engine } from "../engine/engine.js";
import { getEngine, type EngineChoice } from "../engine/index.js";
import { adamScalars, defaultAdam, type AdamConfig } from "./adam.js";
import {
  checkpointExists,
  checkpointPath,
  checkShapes,
  contentHash,
  decodeState,
  encodeState,
  fromParams,
  loadCheckpoint,
  saveCheckpoint,
  toParams,
  type CheckpointConfig,
} from "./checkpoint.js";
import { timeSampler, type TimeSampler } from "./time.js";
import { learningRate, lrSchedules, type LrSchedule } from "./lr.js";
import { trainStepper, type StepPlan, type StepState, type TrainStepper } from "./step.js";
import type { Network, Objective, Params } from "./types.js";

/**
 * Generic training, DESIGN.md section 1: for ANY process and network,
 *   L = E_{x0, t, eps} [ w(t) * -log q_theta(x0 | F_t(x0, eps), t) ].
 *
 * Every step, on the host: draw a mini-batch of x0 rows (epoch shuffling
 * with a seeded Rng), t ~ the t distribution, eps = process.noise,
 * x_t = process.forward(x0, t, eps), and the objective's target/weight. Then
 * the step (forward + grad + Adam + EMA, see step.ts) runs on the engine,
 * where the weights stay between steps, and the loss is read back.
 */

export { timeSampler, type TimeSampler };

export interface TrainProgress {
  /** Steps completed so far (1-based after the first step). */
  step: number;
  steps: number;
  /** Loss of this step's mini-batch. */
  loss: number;
  /** The learning rate this step used (warm-up and schedule applied). */
  lr: number;
  /** Mean loss over the last up-to-100 steps (smoother, for display). */
  avgLoss: number;
  /** Steps per second, measured over this run (not counting resumed steps). */
  stepsPerSec: number;
  /** Seconds left at the current speed. */
  etaSec: number;
}

export interface TrainOptions<E = Tensor> {
  process: Process<Tensor, E>;
  network: Network;
  objective: Objective<Tensor, E>;
  /** Training data: x0 rows, shape [N, ...item] (token ids as float values). */
  data: Tensor;
  /** Class labels of the data rows, for a class-conditional network (see ClassLabels). */
  labels?: ClassLabels;
  /** Total number of optimizer steps (a resumed run continues up to this). */
  steps: number;
  batchSize: number;
  /** Adam learning rate (default 1e-3). */
  lr?: number;
  /** Linear warm-up of the learning rate over this many steps (default 0). */
  warmup?: number;
  /** After the warm-up: "constant" (default), or a "cosine" / "linear" decay to 0 at `steps` or `maxSeconds`, whichever ends first (lr.ts). */
  lrSchedule?: LrSchedule;
  /** Adam hyper-parameters (defaults 0.9, 0.999, 1e-8). */
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Decay of the EMA of the weights (default 0.999; 0 keeps a copy of the latest weights). */
  emaDecay?: number;
  /** Seeds weights init, data order, t and noise. */
  seed: number;
  /** t distribution (default "uniform"; "stratified": the same law, evenly spread over each batch). */
  time?: TimeSampler;
  /** Checkpoint folder; when set, a checkpoint is written every `checkpointEvery` steps and at the end. */
  outDir?: string;
  /** Checkpoint cadence in steps (default: only at the end). */
  checkpointEvery?: number;
  /**
   * Continue from the checkpoint in `outDir` (true) or in the given folder.
   * The final weights equal those of an uninterrupted run with the same
   * options (same seed): the Rng states, data order, Adam step and EMA are restored.
   * With `true` and no checkpoint present, training starts from scratch.
   */
  resume?: boolean | string;
  /** Called after every step. */
  onProgress?: (p: TrainProgress) => void;
  /** Called once before the first step: the engine and how the step fits its memory. */
  onPlan?: (plan: StepPlan, engine: Engine) => void;
  /** JSON-serialisable description saved in config.json (process, objective, data...). */
  metadata?: Record<string, unknown>;
  /** Tensors saved beside the weights in every checkpoint (data.safetensors; the CLI keeps reference rows there). */
  checkpointData?: Record<string, Tensor>;
  /** Stop (without error) after this wall-clock time in seconds; a checkpoint is written if outDir is set. */
  maxSeconds?: number;
  /**
   * Where the step runs (src/engine/): "onnx", "jax", "auto" or an Engine.
   * Default: the process default, "auto" = onnx in Node when onnxruntime-node
   * loads, else jax. The weights equal across engines up to float rounding.
   */
  engine?: EngineChoice | Engine;
  /**
   * At most this many rows per program call: a bigger batch runs as
   * micro-batches whose gradients add up to the whole batch's (default: as
   * many rows as fit the engine's memory).
   */
  microBatch?: number;
}

/**
 * Labels for classifier-free guidance (DESIGN.md "Guidance"): the network
 * gets each batch row's class id as `cond`, replaced by the null id
 * (`classes`) with probability `drop`, so one network learns both
 * q(x0 | x_t, c) and q(x0 | x_t).
 */
export interface ClassLabels {
  /** Class id of each data row, 0 .. classes - 1. */
  ids: ArrayLike<number>;
  classes: number;
  /** Probability of the null label (Ho & Salimans use 0.1 to 0.2). */
  drop: number;
}

export interface TrainResult {
  network: Network;
  /** Latest weights (the caller owns them: dispose with tree.dispose when done). */
  params: Params;
  /** EMA of the weights: usually the better model to sample from. */
  ema: Params;
  /** Loss of every step, from step 1 (including the steps before a resume). */
  losses: number[];
  /** Steps completed. */
  step: number;
  /** Folder of the final checkpoint, when outDir was set. */
  checkpoint?: string;
  /** The engine that ran the steps, and how a step was split to fit its memory (absent when no step ran). */
  engine: string;
  plan?: StepPlan;
}

/**
 * Train `network` to denoise `process` on `data` (see TrainOptions).
 * Throws, naming the step and the value, if a loss or a weight becomes
 * NaN/Inf; the last good checkpoint is left untouched.
 */
export async function train<E = Tensor>(opts: TrainOptions<E>): Promise<TrainResult> {
  const o = checkOptions(opts);
  const { process, network, objective, data } = opts;
  const N = data.shape[0];
  const adam: AdamConfig = { beta1: o.beta1, beta2: o.beta2, eps: o.eps };
  const drawTimes = timeSampler(o.time, process);
  const dataHash = contentHash(data);

  // Random streams: the first block of Rng(seed) is what network.init(seed)
  // uses; data order and noise/t take the next two independent blocks.
  const base = new Rng(o.seed);
  base.fork();
  let dataRng = base.fork();
  let noiseRng = base.fork();

  let state: StepState;
  let step = 0;
  let losses: number[] = [];
  let epochStart = dataRng.state();
  let order = dataRng.permutation(N);
  let cursor = 0;
  // Seconds of training before this session (a time-budgeted decay goes on from there).
  let priorSeconds = 0;

  const resumeFrom = o.resume === true ? (o.outDir ? checkpointPath(o.outDir) : undefined) : o.resume || undefined;
  if (o.resume === true && !o.outDir) throw new Error("train: resume = true needs outDir (or give the checkpoint folder as resume)");
  if (resumeFrom !== undefined && (o.resume !== true || checkpointExists(resumeFrom))) {
    const ck = loadCheckpoint(resumeFrom);
    checkResumable(ck.config, opts, o, N, dataHash);
    checkShapes(ck, network);
    if (Object.keys(ck.adamM).length === 0) throw new Error(`train: checkpoint ${ck.dir} has no Adam moments (an exported model?), cannot resume`);
    state = { params: ck.params, ema: Object.keys(ck.ema).length ? ck.ema : ck.params, adamM: ck.adamM, adamV: ck.adamV };
    step = ck.config.step;
    losses = [...ck.config.losses];
    noiseRng = Rng.fromState(decodeState(ck.config.rng.noise));
    epochStart = decodeState(ck.config.rng.dataEpochStart);
    dataRng = Rng.fromState(epochStart);
    order = dataRng.permutation(N);
    cursor = ck.config.rng.dataCursor;
    priorSeconds = ck.config.seconds ?? 0;
  } else {
    const init = network.init(o.seed);
    const params = await fromParams(init);
    tree.dispose(init);
    const zeros = Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tensor(p.shape)]));
    state = { params, ema: params, adamM: zeros, adamV: zeros };
  }

  function nextBatch(): Uint32Array {
    const idx = new Uint32Array(o.batchSize);
    for (let i = 0; i < idx.length; i++) {
      if (cursor === N) {
        epochStart = dataRng.state();
        order = dataRng.permutation(N);
        cursor = 0;
      }
      idx[i] = order[cursor++];
    }
    return idx;
  }

  // One batch: what the network sees, what its output is compared with, and how much each value counts.
  function drawBatch() {
    const idx = nextBatch();
    const x0 = gatherBatch(data, idx);
    const t = drawTimes(o.batchSize, noiseRng);
    const eps = process.noise(x0.shape, noiseRng);
    const xt = process.forward(x0, t, eps);
    const { target, weight } = objective.target(x0, xt, t, eps);
    const w = weight ?? tensor(target.shape, new Float32Array(target.data.length).fill(1));
    const x = objective.input ? objective.input(x0, xt, t, eps) : xt;
    const c = opts.labels && batchLabels(opts.labels, idx, noiseRng);
    return { x, t: tensor([t.length], t), target, weight: w, ...(c ? { cond: tensor([c.length], c) } : {}) };
  }

  // forward + grad + Adam + EMA on the engine, compiled for the first batch's shapes (step.ts).
  const engine = await getEngine(opts.engine);
  let stepper: TrainStepper | undefined;
  const current = (): Promise<StepState> => (stepper ? stepper.read() : Promise.resolve(state));

  const ckptDir = o.outDir ? checkpointPath(o.outDir) : undefined;
  let savedStep = resumeFrom !== undefined ? step : -1;
  const save = async () => {
    if (!ckptDir) return;
    const weights = await current();
    // Never overwrite a good checkpoint with weights that already went bad.
    for (const [name, group] of Object.entries(weights)) {
      for (const [k, t] of Object.entries(group)) {
        const bad = t.data.findIndex((x) => !Number.isFinite(x));
        if (bad >= 0) {
          throw new Error(
            `train: weight ${name}.${k}[${bad}] = ${t.data[bad]} after step ${step}; not saving it` +
              (savedStep >= 0 ? ` (the checkpoint of step ${savedStep} in ${ckptDir} is intact)` : "") +
              `. Lower the learning rate (now ${o.lr}) or check the data.`,
          );
        }
      }
    }
    const config: CheckpointConfig = {
      format: "udm-checkpoint",
      version: 1,
      network: { name: network.name, config: network.config },
      process: process.name,
      objective: { loss: typeof objective.loss === "function" ? "custom" : objective.loss, ...((objective as { description?: Record<string, unknown> }).description ?? {}) },
      step,
      seed: o.seed,
      training: {
        steps: o.steps,
        batchSize: o.batchSize,
        lr: o.lr,
        warmup: o.warmup,
        lrSchedule: o.lrSchedule,
        emaDecay: o.emaDecay,
        adam,
        time: typeof o.time === "string" ? o.time : "custom",
        dataRows: N,
        dataHash,
      },
      rng: { noise: encodeState(noiseRng.state()), dataEpochStart: encodeState(epochStart), dataCursor: cursor },
      losses,
      seconds: priorSeconds + (performance.now() - t0) / 1000,
      metadata: opts.metadata ?? {},
      savedAt: new Date().toISOString(),
    };
    saveCheckpoint(ckptDir, config, weights, opts.checkpointData);
    savedStep = step;
  };

  const startStep = step;
  const t0 = performance.now();
  let lastSaved = step;
  try {
    while (step < o.steps) {
      const k = step + 1;
      const lrK = learningRate(o, k, priorSeconds + (performance.now() - t0) / 1000);
      const [lr, c1, c2] = adamScalars(adam, lrK, k);
      const batch = drawBatch();
      stepper ??= await trainStepper({ engine, network, loss: objective.loss, adam, batchSize: o.batchSize, example: batch, state, maxRows: o.microBatch });
      if (step === startStep) opts.onPlan?.(stepper.plan, engine);
      const loss = await stepper.step(batch, { lr, c1, c2, decay: o.emaDecay });
      if (!Number.isFinite(loss)) {
        throw new Error(
          `train: loss is ${loss} at step ${k} (lr ${lrK}); stopping without saving these weights` +
            (savedStep >= 0 ? ` (the checkpoint of step ${savedStep} in ${ckptDir} is intact)` : "") +
            `. Lower the learning rate or check the data for NaN/Inf.`,
        );
      }
      step = k;
      losses.push(loss);
      const elapsed = (performance.now() - t0) / 1000;
      const rate = (step - startStep) / Math.max(elapsed, 1e-9);
      if (opts.onProgress) {
        const tail = losses.slice(-100);
        opts.onProgress({
          step,
          steps: o.steps,
          loss,
          lr: lrK,
          avgLoss: tail.reduce((a, b) => a + b, 0) / tail.length,
          stepsPerSec: rate,
          etaSec: (o.steps - step) / rate,
        });
      }
      if (o.checkpointEvery > 0 && step % o.checkpointEvery === 0 && step < o.steps) {
        await save();
        lastSaved = step;
      }
      if (o.maxSeconds !== undefined && elapsed >= o.maxSeconds) break;
    }
    if (lastSaved !== step || savedStep < 0) await save();
    const final = await current();
    return { network, params: toParams(final.params), ema: toParams(final.ema), losses, step, checkpoint: ckptDir, engine: engine.name, plan: stepper?.plan };
  } finally {
    stepper?.dispose();
  }
}

/** The labels of a batch, each replaced by the null id with probability `drop`. */
export function batchLabels(l: ClassLabels, idx: Uint32Array, rng: Rng): Float32Array {
  return Float32Array.from(idx, (i) => (rng.uniform() < l.drop ? l.classes : l.ids[i]));
}

interface Resolved {
  steps: number;
  batchSize: number;
  lr: number;
  warmup: number;
  lrSchedule: LrSchedule;
  beta1: number;
  beta2: number;
  eps: number;
  emaDecay: number;
  seed: number;
  time: TimeSampler;
  outDir?: string;
  checkpointEvery: number;
  resume: boolean | string;
  maxSeconds?: number;
  microBatch?: number;
}

function checkOptions<E>(opts: TrainOptions<E>): Resolved {
  const fail = (field: string, value: unknown, want: string): never => {
    throw new Error(`train: option ${field} must be ${want}, got ${typeof value === "function" ? "a function" : JSON.stringify(value)}`);
  };
  const int = (field: string, v: unknown, min: number) => {
    if (!(Number.isInteger(v) && (v as number) >= min)) fail(field, v, `an integer >= ${min}`);
    return v as number;
  };
  const num = (field: string, v: unknown, ok: (x: number) => boolean, want: string) => {
    if (!(typeof v === "number" && ok(v))) fail(field, v, want);
    return v as number;
  };
  if (!opts.process || typeof opts.process.forward !== "function") fail("process", opts.process, "a Process");
  if (!opts.network || typeof opts.network.apply !== "function") fail("network", opts.network, "a Network");
  if (!opts.objective || typeof opts.objective.target !== "function") fail("objective", opts.objective, "an Objective");
  const d = opts.data;
  if (!d || !(d.data instanceof Float32Array) || !Array.isArray(d.shape) || d.shape.length < 1 || d.shape[0] < 1) {
    fail("data", d && { shape: d.shape }, "a Tensor with at least one row");
  }
  const bad = d.data.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) throw new Error(`train: data has a non-finite value ${d.data[bad]} at flat index ${bad} (row ${Math.floor(bad / (d.data.length / d.shape[0]))})`);
  if (opts.labels) checkLabels(opts.labels, d.shape[0]);
  const time = opts.time ?? "uniform";
  if (time !== "uniform" && time !== "stratified" && typeof time !== "function") fail("time", time, `"uniform", "stratified" or a function (n, rng) => Float32Array`);
  return {
    steps: int("steps", opts.steps, 1),
    batchSize: int("batchSize", opts.batchSize, 1),
    lr: num("lr", opts.lr ?? 1e-3, (x) => x > 0 && Number.isFinite(x), "a positive finite number"),
    warmup: int("warmup", opts.warmup ?? 0, 0),
    lrSchedule: lrSchedules.includes(opts.lrSchedule ?? "constant") ? (opts.lrSchedule ?? "constant") : fail("lrSchedule", opts.lrSchedule, lrSchedules.join(", ")),
    beta1: num("beta1", opts.beta1 ?? defaultAdam.beta1, (x) => x >= 0 && x < 1, "in [0, 1)"),
    beta2: num("beta2", opts.beta2 ?? defaultAdam.beta2, (x) => x >= 0 && x < 1, "in [0, 1)"),
    eps: num("eps", opts.eps ?? defaultAdam.eps, (x) => x > 0, "positive"),
    emaDecay: num("emaDecay", opts.emaDecay ?? 0.999, (x) => x >= 0 && x < 1, "in [0, 1)"),
    seed: int("seed", opts.seed, 0),
    time,
    outDir: opts.outDir,
    checkpointEvery: int("checkpointEvery", opts.checkpointEvery ?? 0, 0),
    resume: opts.resume ?? false,
    maxSeconds: opts.maxSeconds === undefined ? undefined : num("maxSeconds", opts.maxSeconds, (x) => x > 0, "positive"),
    microBatch: opts.microBatch === undefined ? undefined : int("microBatch", opts.microBatch, 1),
  };
}

function checkLabels(l: ClassLabels, rows: number): void {
  if (!(Number.isInteger(l.classes) && l.classes >= 1)) throw new Error(`train: labels.classes must be a positive integer, got ${l.classes}`);
  if (!(l.drop >= 0 && l.drop < 1)) throw new Error(`train: labels.drop must lie in [0, 1), got ${l.drop}`);
  if (l.ids.length !== rows) throw new Error(`train: ${l.ids.length} labels for ${rows} data rows`);
  for (let i = 0; i < rows; i++) {
    const id = l.ids[i];
    if (!(Number.isInteger(id) && id >= 0 && id < l.classes)) throw new Error(`train: label ${id} of row ${i} is not a class id in 0..${l.classes - 1}`);
  }
}

function checkResumable<E>(c: CheckpointConfig, opts: TrainOptions<E>, o: Resolved, N: number, dataHash: string): void {
  const where = "train: cannot resume:";
  if (c.network.name !== opts.network.name || JSON.stringify(c.network.config) !== JSON.stringify(opts.network.config)) {
    throw new Error(`${where} the checkpoint holds network ${c.network.name} ${JSON.stringify(c.network.config)}, this run asks for ${opts.network.name} ${JSON.stringify(opts.network.config)}`);
  }
  const same: [string, unknown, unknown][] = [
    ["seed", c.seed, o.seed],
    ["batchSize", c.training.batchSize, o.batchSize],
    ["lrSchedule", c.training.lrSchedule ?? "constant", o.lrSchedule],
    ["data rows", c.training.dataRows, N],
  ];
  for (const [k, a, b] of same) if (a !== b) throw new Error(`${where} the checkpoint has ${k} ${a}, this run ${b}`);
  if (c.training.dataHash !== undefined && c.training.dataHash !== dataHash) {
    throw new Error(`${where} the checkpoint was trained on other data (content hash ${c.training.dataHash.slice(0, 12)}..., this run's data ${dataHash.slice(0, 12)}...)`);
  }
  if (c.step > o.steps) throw new Error(`${where} the checkpoint is at step ${c.step}, beyond the requested ${o.steps} steps`);
}
