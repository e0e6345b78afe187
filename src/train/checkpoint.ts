import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { numpy as np, tree } from "@jax-js/jax";
import { tensor, type Tensor } from "../core/tensor.js";
import { describeFsError, ensureDir, fsReason, removeStaleTemps, WriteError, writeFileSynced } from "../io/files.js";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.js";
import type { Network, Params } from "./types.js";

/**
 * A checkpoint is a folder with two or three files:
 *   config.json         what is needed to rebuild and continue (see CheckpointConfig)
 *   weights.safetensors params.*, ema.*, adam.m.*, adam.v.* (F32)
 *   data.safetensors    optional tensors beside the weights (the CLI keeps
 *                       reference rows of its data set there, so sampling
 *                       never reads the data source)
 * It is written atomically: into a temporary sibling folder, then renamed
 * into place (the previous checkpoint is moved aside first and deleted last),
 * so a killed run leaves either the old or the new checkpoint, never a mix.
 * Temporary folders left by a killed writer are removed by the next write.
 * Loading checks every field, refuses non-finite weights (naming the
 * tensor), and `checkShapes` compares every tensor with the network.
 */

export const CONFIG_FILE = "config.json";
export const WEIGHTS_FILE = "weights.safetensors";
export const DATA_FILE = "data.safetensors";
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
    /** Learning-rate schedule after the warm-up (src/train/lr.ts); absent in older checkpoints: "constant". */
    lrSchedule?: string;
    emaDecay: number;
    adam: { beta1: number; beta2: number; eps: number };
    time: string;
    dataRows: number;
    /** Content hash of the training data (contentHash); resume refuses other data. Absent in older checkpoints. */
    dataHash?: string;
  };
  /** Host random state: noise/t stream, and the data order (epoch start state + position). */
  rng: { noise: (number | null)[]; dataEpochStart: (number | null)[]; dataCursor: number };
  /** Loss of every step so far. */
  losses: number[];
  /** Wall-clock seconds of training so far, all sessions (a time-budgeted learning-rate decay resumes from it); absent in older checkpoints. */
  seconds?: number;
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
  /** The tensors of data.safetensors (empty when there is none). */
  data: Record<string, Tensor>;
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
    if (!existsSync(parent) || !statSync(parent).isDirectory()) continue;
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

/** JSON has no NaN: Rng states carry NaN for "no cached normal". */
export const encodeState = (s: readonly number[]): (number | null)[] => s.map((v) => (Number.isNaN(v) ? null : v));
export const decodeState = (s: readonly (number | null)[]): number[] => s.map((v) => (v === null ? NaN : v));

/**
 * Test hook: `UDM_FAILPOINT=<name>` (or `<name>@<step>`) kills the process
 * with SIGKILL at that point of a checkpoint write, so the reliability tests
 * can crash a run exactly there and resume it. Names:
 * checkpoint:tmp-written, checkpoint:moved-aside.
 */
function failpoint(name: string, step: number): void {
  const want = process.env.UDM_FAILPOINT;
  if (want === name || want === `${name}@${step}`) process.kill(process.pid, "SIGKILL");
}

/**
 * Write a checkpoint folder atomically (temp folder, then rename over `dir`).
 * `data`: tensors for data.safetensors (optional).
 */
export function saveCheckpoint(dir: string, config: CheckpointConfig, weights: CheckpointWeights, data?: Record<string, Tensor>): void {
  const target = resolve(dir);
  const parent = dirname(target);
  const tag = `${process.pid}-${Date.now()}`;
  const tmp = `${target}.tmp-${tag}`;
  const aside = `${target}.old-${tag}`;
  ensureDir(parent);
  // What a killed writer left: its temp folders (never a moved-aside copy while it is the only checkpoint).
  const mine = (name: string) => name.startsWith(`${basename(target)}.`);
  removeStaleTemps(parent, (name) => !mine(name) || (name.includes(".old-") && !existsSync(join(target, CONFIG_FILE))));
  try {
    mkdirSync(tmp);
  } catch (e) {
    throw new WriteError(`cannot write the checkpoint ${target}: ${fsReason(e)}`, target, (e as NodeJS.ErrnoException).code);
  }
  try {
    const tensors: Record<string, Tensor> = {};
    for (const key of Object.keys(PREFIXES) as (keyof CheckpointWeights)[]) {
      for (const [name, t] of Object.entries(weights[key])) tensors[PREFIXES[key] + name] = t;
    }
    writeFileSynced(join(tmp, WEIGHTS_FILE), encodeSafetensors(tensors, { format: "udm-checkpoint", step: String(config.step) }));
    if (data && Object.keys(data).length > 0) writeFileSynced(join(tmp, DATA_FILE), encodeSafetensors(data, { format: "udm-checkpoint-data" }));
    writeFileSynced(join(tmp, CONFIG_FILE), JSON.stringify(config, null, 2) + "\n");
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    // Name the checkpoint, not the temporary file; the previous checkpoint is untouched.
    throw new WriteError(`cannot write the checkpoint ${target}: ${fsReason(e)}${existsSync(target) ? "; the previous checkpoint there is intact" : ""}`, target, (e as NodeJS.ErrnoException).code);
  }
  failpoint("checkpoint:tmp-written", config.step);
  const had = existsSync(target);
  try {
    if (had) renameSync(target, aside);
    failpoint("checkpoint:moved-aside", config.step);
    renameSync(tmp, target);
  } catch (e) {
    throw describeFsError(e, target, "replace the checkpoint");
  }
  // The new checkpoint is in place: every older copy can go.
  removeStaleTemps(parent, (name) => !mine(name));
}

/** Only config.json of a checkpoint (cheap: no weights), checked field by field. */
export function readCheckpointConfig(path: string): { dir: string; config: CheckpointConfig } {
  const dir = resolveCheckpoint(path);
  const cfgFile = join(dir, CONFIG_FILE);
  if (!existsSync(dir)) throw new Error(`checkpoint: folder ${dir} does not exist`);
  if (!existsSync(cfgFile)) throw new Error(`checkpoint: ${cfgFile} is missing (not a checkpoint folder?)`);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cfgFile, "utf8"));
  } catch (e) {
    throw new Error(`checkpoint: ${cfgFile} is not valid JSON (${(e as Error).message})`);
  }
  return { dir, config: checkConfig(raw, cfgFile) };
}

/** Read a checkpoint, with errors that name the file and the field. */
export function loadCheckpoint(path: string): Checkpoint {
  const { dir, config } = readCheckpointConfig(path);
  const cfgFile = join(dir, CONFIG_FILE);
  const wFile = join(dir, WEIGHTS_FILE);
  if (!existsSync(wFile)) throw new Error(`checkpoint: ${wFile} is missing`);
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
  for (const key of Object.keys(PREFIXES) as (keyof CheckpointWeights)[]) checkFinite(weights[key], PREFIXES[key], wFile);
  const dFile = join(dir, DATA_FILE);
  const data = existsSync(dFile) ? decodeSafetensors(new Uint8Array(readFileSync(dFile)), dFile).tensors : {};
  return { dir, config, ...weights, data };
}

/** Refuse NaN/Inf weights, naming the tensor: such a model cannot be sampled or trained further. */
function checkFinite(group: Record<string, Tensor>, prefix: string, file: string): void {
  for (const [name, t] of Object.entries(group)) {
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      throw new Error(`checkpoint: ${file}: tensor "${prefix}${name}" holds ${t.data[bad]} at index ${bad}; a checkpoint with non-finite weights cannot be sampled or resumed`);
    }
  }
}

/**
 * Every tensor of the checkpoint against the network it is loaded into:
 * the same names and the same shapes as `network.init` makes. Throws naming
 * the first tensor that is missing, extra or of another shape.
 */
export function checkShapes(ck: Pick<Checkpoint, "dir" | keyof CheckpointWeights>, network: Network): void {
  const fresh = network.init(0);
  const want = Object.fromEntries(Object.entries(fresh).map(([k, p]) => [k, [...p.shape]]));
  tree.dispose(fresh);
  const file = join(ck.dir, WEIGHTS_FILE);
  const net = `network ${network.name} ${JSON.stringify(network.config)}`;
  for (const key of Object.keys(PREFIXES) as (keyof CheckpointWeights)[]) {
    const group = ck[key];
    if (key !== "params" && Object.keys(group).length === 0) continue;
    for (const [name, shape] of Object.entries(want)) {
      const t = group[name];
      if (!t) throw new Error(`checkpoint: ${file}: tensor "${PREFIXES[key]}${name}" is missing; ${net} needs it, shape [${shape.join(", ")}]`);
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`checkpoint: ${file}: tensor "${PREFIXES[key]}${name}" has shape [${t.shape.join(", ")}], ${net} needs [${shape.join(", ")}]`);
      }
    }
    for (const name of Object.keys(group)) {
      if (!(name in want)) throw new Error(`checkpoint: ${file}: tensor "${PREFIXES[key]}${name}" is not a weight of ${net}`);
    }
  }
}

/** SHA-256 of tensors (shapes and float32 bytes), as hex: the identity of a data set. */
export function contentHash(...tensors: Tensor[]): string {
  const h = createHash("sha256");
  for (const t of tensors) {
    h.update(JSON.stringify(t.shape));
    h.update(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  }
  return h.digest("hex");
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
  if (t.dataHash !== undefined && !(typeof t.dataHash === "string" && /^[0-9a-f]{64}$/.test(t.dataHash))) fail("training.dataHash", "must be a SHA-256 in hex");
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
