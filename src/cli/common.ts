import type { Command } from "commander";
import { z } from "zod";
import { UsageError, bool, check, choice, fieldName, int, positive, real, rejectUnknown, text, type RawOptions } from "./options.js";
import type { RunSpec, SampleRequest, TrainRun } from "./pipeline.js";
import { allData, allNetworks, allProcesses, dataNames, findData, findNetwork, findProcess, type DataKind, type FlagSpec, type ProcessEntry } from "./registry.js";
import { samplerNames } from "./solvers.js";
import { lrSchedules } from "../train/lr.js";

/** Flags and schemas shared by several commands. */

/** Add flags to a command; flags shared by several entries are listed once with all their meanings. */
export function addFlags(cmd: Command, specs: readonly FlagSpec[]): void {
  const merged = new Map<string, FlagSpec>();
  for (const s of specs) {
    const seen = merged.get(s.key);
    merged.set(s.key, seen ? { ...seen, description: `${seen.description}; ${s.description}` } : s);
  }
  for (const s of merged.values()) cmd.option(s.flag, s.description);
}

// ---------------------------------------------------------------- what to train

export const runFlags = (): FlagSpec[] => [
  { key: "data", flag: "--data <name>", description: `data set: ${dataNames().join(", ")} (default moons)` },
  { key: "process", flag: "--process <name>", description: `destruction process: ${allProcesses().map((p) => p.name).join(", ")} (default gaussian; on text, the first for text: mask)` },
  { key: "network", flag: "--network <name>", description: `network: ${allNetworks().map((n) => n.name).join(", ")} (default: the first for the data kind)` },
  { key: "trainRows", flag: "--train-rows <n>", description: "training rows to generate, for generated data sets (default 10000)" },
  { key: "heldOut", flag: "--held-out <n>", description: "held-out rows for eval and analytic-dpm (default 2000)" },
  { key: "seed", flag: "--seed <n>", description: "seed of data, weights, noise (default 0)" },
  ...allData().flatMap((d) => (d.flags ?? []).map((f) => ({ ...f, description: `[${d.name} data] ${f.description}` }))),
  ...allProcesses().flatMap((p) => p.flags.map((f) => ({ ...f, description: `[${p.name}] ${f.description}` }))),
  ...allNetworks().flatMap((n) => n.flags.map((f) => ({ ...f, description: `[${n.name}] ${f.description}` }))),
];

const runSchema = z.object({
  data: text().default("moons"),
  process: text().optional(),
  network: text().optional(),
  trainRows: int(1, 10_000_000).default(10000),
  heldOut: int(1, 1_000_000).default(2000),
  seed: int(0, 2 ** 31 - 1).default(0),
});

/** gaussian where it applies, else the first process registered for the data kind. */
function defaultProcess(kind: DataKind): ProcessEntry {
  const fits = allProcesses().filter((p) => p.kinds.includes(kind));
  const entry = fits.find((p) => p.name === "gaussian") ?? fits[0];
  if (!entry) throw new UsageError(`no process is registered for ${kind} data`);
  return entry;
}

/**
 * Check the run description and the chosen entries' own options; `others`
 * are the keys the command itself accepts (anything else is refused).
 */
export function parseRunSpec(raw: RawOptions, others: Iterable<string>, command: string): RunSpec {
  const o = check(runSchema, raw);
  const { entry } = findData(o.data, fieldName("data", raw));
  const proc = o.process === undefined ? defaultProcess(entry.kind) : findProcess(o.process, entry.kind, fieldName("process", raw));
  const net = findNetwork(o.network, entry.kind, fieldName("network", raw));
  const dataKeys = entry.options ? Object.keys(entry.options.shape) : [];
  rejectUnknown(raw, [...Object.keys(runSchema.shape), ...dataKeys, ...Object.keys(proc.options.shape), ...Object.keys(net.options.shape), ...others, "config"],
    `udm ${command} with --process ${proc.name} --network ${net.name}`);
  return {
    data: o.data,
    ...(entry.options ? { dataOptions: check(entry.options, raw) } : {}),
    n: o.trainRows,
    heldOut: o.heldOut,
    seed: o.seed,
    process: { name: proc.name, options: check(proc.options, raw) },
    network: { name: net.name, options: check(net.options, raw) },
  };
}


// ---------------------------------------------------------------- how to train

/** Where the networks run (src/engine/). */
export const engineFlag: FlagSpec = {
  key: "engine",
  flag: "--engine <name>",
  description: "where networks run: auto (onnx when onnxruntime-node loads, else jax), onnx or jax (default auto)",
  session: true,
};

/** Intra-op threads of the onnx engine (two runs side by side: --threads 1 each). */
export const threadsFlag: FlagSpec = {
  key: "threads",
  flag: "--threads <n>",
  description: "threads of the onnx engine (default: the machine's cores)",
  session: true,
};

const engineOption = () => choice(["auto", "onnx", "jax"]).default("auto");

export const trainFlags: FlagSpec[] = [
  { key: "steps", flag: "--steps <n>", description: "optimizer steps (default 3000; with --resume: train on up to this step)", session: true },
  { key: "batchSize", flag: "--batch-size <n>", description: "mini-batch size (default 256)" },
  { key: "lr", flag: "--lr <x>", description: "Adam learning rate (default 0.002)" },
  { key: "warmup", flag: "--warmup <n>", description: "linear learning-rate warm-up steps (default 100)" },
  { key: "lrSchedule", flag: "--lr-schedule <name>", description: "after the warm-up: constant, or a cosine / linear decay to 0 at --steps or at --max-seconds, whichever ends first (default constant)" },
  { key: "emaDecay", flag: "--ema-decay <x>", description: "EMA decay of the weights, in [0, 1) (default 0.995)" },
  { key: "checkpointEvery", flag: "--checkpoint-every <n>", description: "also checkpoint every n steps (default: only at the end)", session: true },
  { key: "maxSeconds", flag: "--max-seconds <s>", description: "stop after this many seconds (a checkpoint is written)", session: true },
  { key: "labelDrop", flag: "--label-drop <p>", description: "class-conditional networks: probability of training on the null label instead, for guidance (default 0.15)" },
  { key: "resume", flag: "--resume", description: "continue the checkpoint in --out: data, process and options come from it (flags may only repeat them, or change --steps and other session options)", session: true },
  { key: "force", flag: "--force", description: "replace a checkpoint already in --out", session: true },
  { key: "quiet", flag: "--quiet", description: "no progress bar", session: true },
  engineFlag,
  threadsFlag,
];

/** Keys that `--resume` lets change: the session flags, and the command's own. */
export function sessionKeys(specs: readonly FlagSpec[]): Set<string> {
  return new Set(["out", "config", ...specs.filter((f) => f.session).map((f) => f.key)]);
}

export function trainSchema(defaults: { out: string; steps: number }) {
  return z.object({
    out: text().default(defaults.out),
    steps: int(1, 10_000_000).default(defaults.steps),
    batchSize: int(1, 1_000_000).default(256),
    lr: real(0, 1, { lo: true }).default(2e-3),
    warmup: int(0).default(100),
    lrSchedule: choice(lrSchedules).default("constant"),
    emaDecay: real(0, 1, { hi: true }).default(0.995),
    checkpointEvery: int(0).default(0),
    maxSeconds: positive().optional(),
    labelDrop: real(0, 1, { hi: true }).default(0.15),
    resume: bool().default(false),
    force: bool().default(false),
    quiet: bool().default(false),
    engine: engineOption(),
    threads: int(1, 1024).optional(),
  });
}

export function toTrainRun(o: z.output<ReturnType<typeof trainSchema>>): TrainRun {
  return { ...o };
}

// ---------------------------------------------------------------- how to sample

export const sampleFlags: FlagSpec[] = [
  { key: "sampler", flag: "--sampler <name>", description: `${samplerNames().join(", ")}: the one generic sampler (every process; --preset, --r) or a solver of the Gaussian process's ODE/SDE (default generic)` },
  { key: "rtol", flag: "--rtol <x>", description: "relative (and absolute) tolerance of --sampler rk45 (default 0.001)" },
  { key: "preset", flag: "--preset <name>", description: "sampler preset of the process: ddpm, ddim, analytic-dpm for gaussian (default ddpm)" },
  { key: "eta", flag: "--eta <x>", description: "DDIM eta in [0, 1] (with --preset ddim; default 0)" },
  { key: "r", flag: "--r <x>", description: "kernel knob r in [0, 1] of the generic sampler (instead of a preset)" },
  { key: "steps", flag: "--steps <n>", description: "sampling steps (default 100, or what the process needs: ar the chunk length, block a multiple of its blocks)" },
  { key: "grid", flag: "--grid <kind>", description: "time grid: uniform or quadratic (default uniform)" },
  { key: "count", flag: "-n, --count <n>", description: "number of samples (default 2000)" },
  { key: "sampleSeed", flag: "--sample-seed <n>", description: "seed of the sampler (default 1)" },
  { key: "ema", flag: "--ema <bool>", description: "sample from the EMA weights (default true)" },
  engineFlag,
  threadsFlag,
];

export const sampleSchema = z.object({
  sampler: choice(samplerNames() as [string, ...string[]]).default("generic"),
  rtol: real(0, 1, { lo: true, hi: true }).default(1e-3),
  preset: text().optional(),
  eta: real(0, 1).optional(),
  r: real(0, 1).optional(),
  steps: int(1, 100_000).optional(),
  grid: choice(["uniform", "quadratic"]).default("uniform"),
  count: int(1, 1_000_000).default(2000),
  sampleSeed: int(0, 2 ** 31 - 1).default(1),
  ema: bool().default(true),
  engine: engineOption(),
  threads: int(1, 1024).optional(),
});

export function toSampleRequest(o: z.output<typeof sampleSchema>, trajectory = false): SampleRequest {
  return { sampler: o.sampler, rtol: o.rtol, preset: o.preset, eta: o.eta, r: o.r, steps: o.steps, grid: o.grid, n: o.count, seed: o.sampleSeed, trajectory };
}

/** Check --preset against the process's own list, before any work. */
export function checkPreset(preset: string | undefined, presets: readonly string[] | undefined, processName: string): void {
  if (preset === undefined) return;
  if (!presets || presets.length === 0) throw new UsageError(`--preset: process ${processName} has no presets; set the kernel with --r`);
  if (!presets.includes(preset)) throw new UsageError(`--preset must be one of ${presets.join(", ")} (process ${processName}), got ${JSON.stringify(preset)}`);
}
