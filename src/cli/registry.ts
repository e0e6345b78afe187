/**
 * The CLI's registry: names the user types (`--data moons`, `--process
 * gaussian`, `--network mlp`) mapped to builders. Commands only ever talk to
 * these interfaces, so a new data set, process or network needs no change
 * to the command code.
 *
 * HOW TO ADD AN ENTRY
 *   1. Write a module under src/cli/entries/ that calls registerData,
 *      registerProcess or registerNetwork at import time (see points.ts,
 *      gaussian.ts, mlp.ts there for complete examples).
 *   2. Add one `import "./your-module.js";` line to src/cli/entries/index.ts.
 * Options: an entry lists its flags (`flags`) and a zod object (`options`)
 * whose keys are the flags in camelCase, with defaults. The commands add the
 * flags to their help, read them from the command line or a --config file,
 * and hand the entry only its own options, already checked. The options are
 * saved in the checkpoint, so `udm sample` rebuilds exactly what was trained.
 * A data entry also saves its `state` (normalisation, vocabulary) and can
 * `restore` its DataSet from the checkpoint alone, so sampling never reads
 * the data source again.
 */
import type { z } from "zod";
import type { Denoiser } from "../core/denoiser.js";
import type { Process } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import type { RSchedule } from "../core/sampler.js";
import type { Tensor } from "../core/tensor.js";
import type { ClassCondition } from "../train/network-denoiser.js";
import type { Network, Objective, Params } from "../train/types.js";
import type { TimeSampler } from "../train/time.js";
import type { Picture } from "../viz/chart.js";
import type { Snapshot } from "../viz/trajectory.js";
import { UsageError } from "./options.js";

/** Real vectors, images [C, H, W] (or [H, W]), or token ids stored as float values. */
export type DataKind = "points" | "image" | "tokens";

/** A flag as shown in help: `key` is the option name in camelCase (and in config files). */
export interface FlagSpec {
  key: string;
  /** commander syntax, e.g. "--schedule <name>" */
  flag: string;
  description: string;
  /**
   * How this invocation runs, not what is trained (--steps, --quiet, an
   * engine...): `--resume` accepts a new value. Every other flag describes
   * the run, and `--resume` refuses a value that differs from the checkpoint's.
   */
  session?: boolean;
}

// ---------------------------------------------------------------- data

export interface DataRequest {
  /** The text after the colon for entries that take one (`csv:<path>`). */
  arg?: string;
  /** Training rows wanted (entries with a fixed size may ignore it). */
  n: number;
  /** Held-out rows wanted (for eval and Analytic-DPM). */
  heldOut: number;
  seed: number;
  /** The entry's own options (its `options` schema, checked). */
  options: Record<string, unknown>;
  /** "variable" when the process works on sequences of varying length (ProcessEntry.sequences). */
  sequences: "fixed" | "variable";
}

export interface DataSet {
  kind: DataKind;
  /** What the user typed, for titles: "moons", "csv:points.csv". */
  name: string;
  /** x0 rows [N, ...item]. */
  train: Tensor;
  /** Rows never trained on, [M, ...item]. */
  heldOut: Tensor;
  /** Token data: ids are 0 .. vocab-1. */
  vocab?: number;
  /** Labelled data (MNIST, Fashion-MNIST): the class id of each training row, for class-conditional models. */
  labels?: Float32Array;
  /** Names of the classes, by id (labelled data). */
  classNames?: readonly string[];
  /**
   * Token sequences of varying length: rows are padded batches
   * (src/core/padded.ts) and this is the PAD id, vocab - 1. Processes that
   * ignore lengths see PAD as one more token; deletion sees vocab - 1 data tokens.
   */
  pad?: number;
  /** Token data: ids as text (for `udm show` and messages). */
  decode?(ids: ArrayLike<number>): string;
  /**
   * Text: the characters these rows spell (PAD excluded), so that a bound
   * is reported per character whether a token is one character or a
   * byte-pair piece of several. Absent: every position is one character.
   */
  characters?(rows: Tensor): number;
  /** Samples beside the data (points default: scatter plots; images: a grid; tokens: omit). */
  picture?(samples: Tensor, title: string): Picture;
  /** x_t along the sampling run. */
  trajectory?(snapshots: readonly Snapshot[]): Picture;
  /**
   * Write samples in the data's own format into `dir` (points default:
   * samples.csv; other kinds default to samples.json); returns the files written.
   */
  writeSamples?(samples: Tensor, dir: string): string[];
  /** Extra quality scores of samples, printed by `udm eval` (images: classifier Frechet distance, class entropy). */
  metrics?(samples: Tensor): Promise<Record<string, number>> | Record<string, number>;
  /**
   * What the entry derived from the data and needs again to sample (CSV: the
   * per-column mean and std; text: the characters of the vocabulary), as
   * JSON. Saved in the checkpoint and handed back to `restore`.
   */
  state?: Record<string, unknown>;
}

/** What a checkpoint gives back to DataEntry.restore: reference rows and the saved state. */
export interface RestoreRequest {
  arg?: string;
  /** Training rows kept in the checkpoint (an evenly spaced subset of at most a few thousand). */
  train: Tensor;
  /** Held-out rows kept in the checkpoint. */
  heldOut: Tensor;
  vocab?: number;
  state?: Record<string, unknown>;
}

export interface DataEntry {
  /** "moons", or "csv" for an entry typed as csv:<path>. */
  name: string;
  /** Name of the argument after the colon ("path"); absent when the entry takes none. */
  arg?: string;
  kind: DataKind;
  description: string;
  /** Flags of the entry's own options, and their zod schema (keys = flags in camelCase, with defaults). */
  flags?: readonly FlagSpec[];
  options?: z.ZodObject;
  /** Read the data (train and resume); errors name the file, line and value. */
  load(req: DataRequest): DataSet | Promise<DataSet>;
  /**
   * The same DataSet from a checkpoint's saved rows and state, reading
   * nothing (sample, eval). Without it the data is loaded again and must
   * hash to what was trained on.
   */
  restore?(req: RestoreRequest): DataSet;
}

// ---------------------------------------------------------------- processes

/** What a network must output for this process and data. */
export type NetworkOutput =
  | { kind: "same" }
  /**
   * causal: output i may depend on inputs 0..i-1 only (an autoregressive model); block: a block-causal network over
   * blocks of this many tokens reading [x_t, x0] (block diffusion, src/model/transformer.ts); a network that cannot must refuse.
   */
  | { kind: "logits"; vocab: number; causal?: boolean; block?: number };

export interface SamplerRequest {
  /** --preset, when given (one of ProcessSetup.presets). */
  preset?: string;
  /** --eta (DDIM), when given. */
  eta?: number;
  /** --r, when given: the kernel knob of the generic sampler. */
  r?: number;
  /** The decreasing sampling grid. */
  grid: readonly number[];
  /** Held-out data, for presets that estimate something (Analytic-DPM). */
  heldOut: Tensor;
  rng: Rng;
}

export interface ProcessSetup {
  process: Process<Tensor, any>;
  objective: Objective<Tensor, any>;
  output: NetworkOutput;
  /** A trained network as q(x0 | x_t); `cond` picks the class and guidance of a class-conditional network. */
  denoiser(network: Network, params: Params, cond?: ClassCondition): Denoiser & { dispose?(): void };
  /** Shape of one x_t item when it differs from the data's (pixel masking adds a mask channel). */
  inputShape?: readonly number[];
  /** How training draws t (default "uniform"; "stratified" for time-weighted losses such as an ELBO). */
  time?: TimeSampler;
  /**
   * How inpainting holds known pixels (src/images/inpaint.ts): "paste" writes
   * them over x0_hat (Gaussian), "reveal" also shows them in x_t (masking).
   * Absent: the process does not inpaint.
   */
  inpaint?: "paste" | "reveal";
  /** Names accepted by --preset (the first is the default); none: only --r. */
  presets?: readonly string[];
  /** Sampling steps when --steps is not given (default 100): a process whose grid is constrained picks a valid one (ar: its length; block: a multiple of its blocks). */
  sampleSteps?: number;
  /**
   * The sampler's r and denoiser for a request. Without it the generic
   * setting is used: r = --r (default 0) and the denoiser as is.
   */
  sampler?(req: SamplerRequest, denoiser: Denoiser): Promise<{ r: RSchedule; denoiser: Denoiser; label: string }>;
  /** Where sampling starts (default: process.prior). Blur, for example, starts from F_1 of data. */
  start?(n: number, rng: Rng, data: DataSet): Tensor;
  /**
   * Negative log-likelihood of held-out rows under the trained model, where
   * the process has one (Gaussian: through the probability-flow ODE).
   */
  nll?(denoiser: Denoiser, data: Tensor, seed: number): Promise<NllResult>;
  /**
   * Optional: a network made for this process (default: the --network entry
   * for the data kind). `chosen(spec)` builds the user's --network for a
   * spec, so a process can adapt it (the encoding process asks for real
   * inputs, spec.inputDim, and wraps it with its encoder).
   */
  network?(spec: NetworkSpec, chosen: (spec: NetworkSpec) => Network): Network;
  /** Optional: infilling with known tokens (default: text/infill.ts's infillDenoiser, which writes the ids into x_t). */
  infill?(base: Denoiser, known: Tensor): Denoiser;
  /**
   * Optional, instead of `infill`: infilling from the template text itself,
   * for processes where `_` marks a place to insert text of any length
   * (deletion); returns the wrapped denoiser and where sampling starts.
   */
  infillText?(base: Denoiser, template: string): { denoiser: Denoiser; start(n: number, rng: Rng): Tensor };
  /** Map the sampler's x_0 to data (pixel masking drops its mask channel); default: as is. */
  finish?(samples: Tensor): Tensor;
}

export interface NllResult {
  /** Nats per example, and its standard error. */
  nll: number;
  nllStderr: number;
  bitsPerDim: number;
  bitsPerDimStderr: number;
  /** How it was computed, for the report ("PF-ODE, RK45, exact trace"). */
  method: string;
}

export interface ProcessEntry<O extends Record<string, unknown> = any> {
  name: string;
  /**
   * Other names this entry answers to for its own data kinds, when the entry
   * of that name handles other kinds ("mask" on images is "pixel-mask").
   */
  aliases?: readonly string[];
  description: string;
  kinds: readonly DataKind[];
  /** "variable": the process works on sequences of varying length, and asks the data for them. */
  sequences?: "fixed" | "variable";
  flags: readonly FlagSpec[];
  options: z.ZodObject;
  build(options: O, data: DataSet): ProcessSetup;
}

// ---------------------------------------------------------------- networks

export interface NetworkSpec {
  kind: DataKind;
  /** Shape of one item (e.g. [2], [1, 28, 28], [64]). */
  itemShape: readonly number[];
  output: NetworkOutput;
  /** Input vocabulary for token data (including any [MASK] id the process adds). */
  vocab?: number;
  /** Token data: the network reads this many real features per position instead of ids (encoding). */
  inputDim?: number;
  /** Shape of one network input item when it differs from itemShape (pixel masking's mask channel). */
  inputShape?: readonly number[];
  /** Number of classes of labelled data (class-conditional networks need it). */
  classes?: number;
}

export interface NetworkEntry<O extends Record<string, unknown> = any> {
  name: string;
  description: string;
  /** Data kinds it handles; the first entry registered for a kind is its default. */
  kinds: readonly DataKind[];
  flags: readonly FlagSpec[];
  options: z.ZodObject;
  build(options: O, spec: NetworkSpec): Network;
}

// ---------------------------------------------------------------- the maps

const dataEntries = new Map<string, DataEntry>();
const processEntries = new Map<string, ProcessEntry>();
const networkEntries = new Map<string, NetworkEntry>();

function register<T extends { name: string }>(map: Map<string, T>, what: string, e: T): void {
  if (!/^[a-z0-9][a-z0-9-]*$/.test(e.name)) throw new Error(`registry: ${what} name "${e.name}" must be lower-case letters, digits and dashes`);
  if (map.has(e.name)) throw new Error(`registry: ${what} "${e.name}" is registered twice`);
  map.set(e.name, e);
}

export const registerData = (e: DataEntry): void => register(dataEntries, "data set", e);
export const registerProcess = (e: ProcessEntry): void => register(processEntries, "process", e);
export const registerNetwork = (e: NetworkEntry): void => register(networkEntries, "network", e);

export const dataNames = (): string[] => [...dataEntries.values()].map((e) => (e.arg ? `${e.name}:<${e.arg}>` : e.name));
export const processNames = (): string[] => [...processEntries.keys()];
export const networkNames = (): string[] => [...networkEntries.keys()];
export const allData = (): DataEntry[] => [...dataEntries.values()];
export const allProcesses = (): ProcessEntry[] => [...processEntries.values()];
export const allNetworks = (): NetworkEntry[] => [...networkEntries.values()];

/** Resolve what the user typed for --data ("moons", "csv:my.csv"). */
export function findData(spec: string, field = "--data"): { entry: DataEntry; arg?: string } {
  const colon = spec.indexOf(":");
  const name = colon < 0 ? spec : spec.slice(0, colon);
  const arg = colon < 0 ? undefined : spec.slice(colon + 1);
  const entry = dataEntries.get(name);
  if (!entry) throw new UsageError(`${field} must be one of ${dataNames().join(", ")}, got ${JSON.stringify(spec)}`);
  if (entry.arg && !arg) throw new UsageError(`${field} ${name} needs its ${entry.arg}: write ${name}:<${entry.arg}>, got ${JSON.stringify(spec)}`);
  if (!entry.arg && arg !== undefined) throw new UsageError(`${field} ${name} takes no argument after a colon, got ${JSON.stringify(spec)}`);
  return { entry, arg };
}

export function findProcess(name: string, kind: DataKind, field = "--process"): ProcessEntry {
  const alias = allProcesses().find((p) => p.kinds.includes(kind) && p.aliases?.includes(name));
  const named = processEntries.get(name);
  const entry = named && named.kinds.includes(kind) ? named : alias ?? named;
  if (!entry) throw new UsageError(`${field} must be one of ${processNames().join(", ")}, got ${JSON.stringify(name)}`);
  if (!entry.kinds.includes(kind)) {
    const fits = allProcesses().filter((p) => p.kinds.includes(kind)).map((p) => p.name);
    throw new UsageError(`${field} ${name} does not apply to ${kind} data (processes for ${kind}: ${fits.join(", ") || "none"})`);
  }
  return entry;
}

/** The --network entry, or the default network for the data kind. */
export function findNetwork(name: string | undefined, kind: DataKind, field = "--network"): NetworkEntry {
  if (name === undefined) {
    const entry = allNetworks().find((n) => n.kinds.includes(kind));
    if (!entry) throw new UsageError(`no network is registered for ${kind} data`);
    return entry;
  }
  const entry = networkEntries.get(name);
  if (!entry) throw new UsageError(`${field} must be one of ${networkNames().join(", ")}, got ${JSON.stringify(name)}`);
  if (!entry.kinds.includes(kind)) throw new UsageError(`${field} ${name} does not handle ${kind} data (it handles ${entry.kinds.join(", ")})`);
  return entry;
}
