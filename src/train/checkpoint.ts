import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, openSync, fsyncSync, closeSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { numpy as np } from "@jax-js/jax";
import { tensor, type Tensor } from "../core/tensor.js";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.js";
import type { Params } from "./types.js";

/**
 * A checkpoint is a folder with two files:
 *   config.json         what is needed to rebuild and continue (see CheckpointConfig)
 *   weights.safetensors params.*, ema.*, adam.m.*, adam.v.* (F32)
 * It is written atomically: into a temporary sibling folder, then renamed
 * into place (the previous checkpoint is moved aside first and deleted last),
 * so a killed run leaves either the old or the new checkpoint, never a mix.
 */

export const CONFIG_FILE = "config.json";
export const WEIGHTS_FILE = "weights.safetensors";
/** Name of the checkpoint folder inside a training run's output folder. */
export const CHECKPOINT_DIR = "checkpoint";

export interface CheckpointConfig {
  format: "udm-checkpoint";
  version: 1;
  /** The network, rebuildable from name + config. */
  network: { name: string; config: Record<string, unknown> };
  /** Process name (e.g. "gaussian(cosine)"). */
  process: string;
  /** Objective description (loss kind, parameterisation...). */
  objective: Record<string, unknown>;
  /** Optimizer steps completed. */
  step: number;
  seed: number;
  /** Training options, checked on resume. */
  training: {
    steps: number;
    batchSize: number;
    lr: number;
    warmup: number;
    emaDecay: number;
    adam: { beta1: number; beta2: number; eps: number };
    time: string;
    dataRows: number;
  };
  /** Host random state: noise/t stream, and the data order (epoch start state + position). */
  rng: { noise: (number | null)[]; dataEpochStart: (number | null)[]; dataCursor: number };
  /** Loss of every step so far. */
  losses: number[];
  /** Anything the caller passed (data set, CLI options...). */
  metadata: Record<string, unknown>;
  savedAt: string;
}

export interface CheckpointWeights {
  params: Record<string, Tensor>;
  ema: Record<string, Tensor>;
  adamM: Record<string, Tensor>;
  adamV: Record<string, Tensor>;
}

export interface Checkpoint extends CheckpointWeights {
  /** The folder it was read from. */
  dir: string;
  config: CheckpointConfig;
}

const PREFIXES: Record<keyof CheckpointWeights, string> = {
  params: "params.",
  ema: "ema.",
  adamM: "adam.m.",
  adamV: "adam.v.",
};

/** The checkpoint folder of a training output folder. */
export function checkpointPath(outDir: string): string {
  return join(outDir, CHECKPOINT_DIR);
}

/** Accept either a checkpoint folder or a run folder that contains one. */
export function resolveCheckpoint(path: string): string {
  const p = resolve(path);
  if (existsSync(join(p, CONFIG_FILE))) return p;
  if (existsSync(join(p, CHECKPOINT_DIR, CONFIG_FILE))) return join(p, CHECKPOINT_DIR);
  // A crash between the two renames of an atomic write leaves only the moved-aside copy.
  for (const dir of [p, join(p, CHECKPOINT_DIR)]) {
    const parent = dirname(dir);
    if (!existsSync(parent)) continue;
    const aside = readdirSync(parent)
      .filter((n) => n.startsWith(`${basename(dir)}.old-`))
      .map((n) => join(parent, n))
      .find((d) => existsSync(join(d, CONFIG_FILE)));
    if (aside) return aside;
  }
  return p;
}

export function checkpointExists(path: string): boolean {
  return existsSync(join(resolveCheckpoint(path), CONFIG_FILE));
}

function writeFileSynced(file: string, data: string | Uint8Array): void {
  writeFileSync(file, data);
  const fd = openSync(file, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** JSON has no NaN: Rng states carry NaN for "no cached normal". */
export const encodeState = (s: readonly number[]): (number | null)[] => s.map((v) => (Number.isNaN(v) ? null : v));
export const decodeState = (s: readonly (number | null)[]): number[] => s.map((v) => (v === null ? NaN : v));

/** Write a checkpoint folder atomically (temp folder, then rename over `dir`). */
export function saveCheckpoint(dir: string, config: CheckpointConfig, weights: CheckpointWeights): void {
  const target = resolve(dir);
  const tag = `${process.pid}-${Date.now()}`;
  const tmp = `${target}.tmp-${tag}`;
  const aside = `${target}.old-${tag}`;
  mkdirSync(dirname(target), { recursive: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const tensors: Record<string, Tensor> = {};
    for (const key of Object.keys(PREFIXES) as (keyof CheckpointWeights)[]) {
      for (const [name, t] of Object.entries(weights[key])) tensors[PREFIXES[key] + name] = t;
    }
    writeFileSynced(join(tmp, WEIGHTS_FILE), encodeSafetensors(tensors, { format: "udm-checkpoint", step: String(config.step) }));
    writeFileSynced(join(tmp, CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const had = existsSync(target);
  if (had) renameSync(target, aside);
  renameSync(tmp, target);
  if (had) rmSync(aside, { recursive: true, force: true });
}

/** Read a checkpoint, with errors that name the file and the field. */
export function loadCheckpoint(path: string): Checkpoint {
  const dir = resolveCheckpoint(path);
  const cfgFile = join(dir, CONFIG_FILE);
  const wFile = join(dir, WEIGHTS_FILE);
  if (!existsSync(dir)) throw new Error(`checkpoint: folder ${dir} does not exist`);
  if (!existsSync(cfgFile)) throw new Error(`checkpoint: ${cfgFile} is missing (not a checkpoint folder?)`);
  if (!existsSync(wFile)) throw new Error(`checkpoint: ${wFile} is missing`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cfgFile, "utf8"));
  } catch (e) {
    throw new Error(`checkpoint: ${cfgFile} is not valid JSON (${(e as Error).message})`);
  }
  const config = checkConfig(raw, cfgFile);
  const file = decodeSafetensors(new Uint8Array(readFileSync(wFile)), wFile);
  const weights: CheckpointWeights = { params: {}, ema: {}, adamM: {}, adamV: {} };
  // Longest prefix first: "adam.m." must not be read as something shorter.
  const order = (Object.keys(PREFIXES) as (keyof CheckpointWeights)[]).sort((a, b) => PREFIXES[b].length - PREFIXES[a].length);
  for (const [name, t] of Object.entries(file.tensors)) {
    const key = order.find((k) => name.startsWith(PREFIXES[k]));
    if (!key) throw new Error(`checkpoint: ${wFile}: tensor "${name}" has none of the prefixes ${Object.values(PREFIXES).join(", ")}`);
    weights[key][name.slice(PREFIXES[key].length)] = t;
  }
  if (Object.keys(weights.params).length === 0) throw new Error(`checkpoint: ${wFile} holds no "params.*" tensors`);
  for (const key of ["ema", "adamM", "adamV"] as const) {
    const have = Object.keys(weights[key]);
    if (have.length === 0) continue; // an exported model may carry only params (+ ema)
    for (const name of Object.keys(weights.params)) {
      if (!(name in weights[key])) throw new Error(`checkpoint: ${wFile}: "${PREFIXES[key]}${name}" is missing`);
    }
  }
  if (file.metadata.step !== undefined && Number(file.metadata.step) !== config.step) {
    throw new Error(`checkpoint: ${wFile} is from step ${file.metadata.step} but ${cfgFile} says step ${config.step} (mixed files)`);
  }
  return { dir, config, ...weights };
}

function checkConfig(raw: unknown, file: string): CheckpointConfig {
  const fail = (field: string, msg: string): never => {
    throw new Error(`checkpoint: ${file}: field "${field}" ${msg}`);
  };
  if (typeof raw !== "object" || raw === null) return fail("(root)", "must be a JSON object");
  const c = raw as Record<string, any>;
  if (c.format !== "udm-checkpoint") fail("format", `must be "udm-checkpoint", got ${JSON.stringify(c.format)}`);
  if (c.version !== 1) fail("version", `must be 1, got ${JSON.stringify(c.version)}`);
  if (typeof c.network?.name !== "string") fail("network.name", "must be a string");
  if (typeof c.network?.config !== "object" || c.network.config === null) fail("network.config", "must be an object");
  if (!Number.isInteger(c.step) || c.step < 0) fail("step", `must be a non-negative integer, got ${JSON.stringify(c.step)}`);
  if (!Number.isFinite(c.seed)) fail("seed", `must be a number, got ${JSON.stringify(c.seed)}`);
  if (!Array.isArray(c.losses) || c.losses.length !== c.step) {
    fail("losses", `must be a list of ${c.step} numbers (one per step), got ${Array.isArray(c.losses) ? c.losses.length : typeof c.losses}`);
  }
  const t = c.training;
  if (typeof t !== "object" || t === null) fail("training", "must be an object");
  for (const k of ["steps", "batchSize", "lr", "warmup", "emaDecay", "dataRows"]) {
    if (!Number.isFinite(t[k])) fail(`training.${k}`, `must be a number, got ${JSON.stringify(t[k])}`);
  }
  for (const k of ["beta1", "beta2", "eps"]) {
    if (!Number.isFinite(t.adam?.[k])) fail(`training.adam.${k}`, `must be a number`);
  }
  const r = c.rng;
  if (!Array.isArray(r?.noise)) fail("rng.noise", "must be a list (Rng state)");
  if (!Array.isArray(r?.dataEpochStart)) fail("rng.dataEpochStart", "must be a list (Rng state)");
  if (!Number.isInteger(r?.dataCursor) || r.dataCursor < 0) fail("rng.dataCursor", "must be a non-negative integer");
  if (typeof c.process !== "string") fail("process", "must be a string");
  if (typeof c.objective !== "object" || c.objective === null) fail("objective", "must be an object");
  c.metadata ??= {};
  return c as CheckpointConfig;
}

/** Host tensors -> jax-js arrays (for a network's apply). */
export function toParams(tensors: Record<string, Tensor>): Params {
  const out: Params = {};
  for (const [k, t] of Object.entries(tensors)) out[k] = np.array(t.data).reshape([...t.shape]);
  return out;
}

/** jax-js arrays -> host tensors, without consuming them. */
export async function fromParams(params: Params): Promise<Record<string, Tensor>> {
  const out: Record<string, Tensor> = {};
  for (const [k, p] of Object.entries(params)) {
    const data = await p.ref.data();
    out[k] = tensor(p.shape, data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>));
  }
  return out;
}
