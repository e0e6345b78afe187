/**
 * Text benchmark: each setting trains for the same wall-clock budget on one
 * book, then is scored by ONE code path: held-out bits per character (the
 * masking NELBO, or the exact chain rule for the autoregressive baseline),
 * the share of real words in its samples (src/metrics/words.ts) at several
 * sampler settings, samples, and infilling examples.
 *
 *   node --import tsx bench/text.ts --setting <name> [--seconds 1200] [--book austen-emma] [--force]
 *       [--length L] [--merges M] [--dim D] [--layers N] [--heads H] [--window W] [--alibi true|false] [--batch B] [--lr X] [--lr-schedule S]   (default: the CLI's, batch 32)
 *   node --import tsx bench/text.ts --report            # the README table from the saved results
 *   node --import tsx bench/text.ts --setting <name> --from RUN   # score a run trained elsewhere (e.g. bench/text-curve.ts's best) instead of training
 *
 * Settings (the network and training flags are the CLI's defaults unless given):
 *   mask-elbo    udm train --process mask --weighting elbo
 *   mask-mean    udm train --process mask --weighting mean
 *   mask-count   udm train --process mask --weighting count (the NELBO's count form)
 *   replace-elbo udm train --process replace --weighting elbo (uniform variant, trained on its bound)
 *   replace-mean udm train --process replace --weighting mean (cross-entropy at every position)
 *   ar           udm train --process ar (the autoregressive baseline, same Transformer, causal)
 *   block        udm train --process block --block B (block diffusion, BD3-LM; --block B, default 2)
 *   block-elbo   the same with --weighting elbo (m'/m per masked token: the block NELBO itself)
 *   torch        bench/text_torch.py: the PyTorch twin of mask-elbo, same budget, scored here
 *   torch-mean   the PyTorch twin of mask-mean
 *   torch-block  the PyTorch twin of block (--block B)
 * --merges M: byte-pair tokens (M merges learned on the training text, `udm train --text-merges M`);
 * chunks then count L tokens, and bits are still per character.
 * Every CLI setting is literally `udm train ... --max-seconds S --out bench/out/text/<setting>`;
 * its scores are what `udm eval --nll` and the samples of `udm sample` give.
 * Results: bench/out/text/<setting>/result.json.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { tree } from "@jax-js/jax";
import { main } from "../src/cli/main.js";
import { arg, asFlags, given, has, settingsMain } from "./udm.js";
import { buildSetup, disposeModel, drawSamples, initJax, loadModel, type Model } from "../src/cli/pipeline.js";
import { textInfill, type TextDataSet } from "../src/cli/entries/text.js";
import { decode } from "../src/data/text.js";
import { paramCount } from "../src/model/layers.js";
import { infillDenoiser } from "../src/text/infill.js";
import { sample } from "../src/core/sampler.js";
import { makeGrid } from "../src/core/grid.js";
import { Rng } from "../src/core/rng.js";
import { toParams } from "../src/train/checkpoint.js";
import { decodeSafetensors } from "../src/train/safetensors.js";
import { findNetwork } from "../src/cli/registry.js";
import { trainSchema } from "../src/cli/common.js";


const book = arg("book", "austen-emma");
const seconds = Number(arg("seconds", "1200"));
const root = arg("runs", "bench/out/text");
const nSamples = Number(arg("samples", "64"));
const stepsList = arg("sample-steps", "16,64,256").split(",").map(Number);
/** Network and optimiser options shared by every setting (the CLI defaults unless given here). */
const netOptions = { tfDim: given("dim"), tfLayers: given("layers"), tfHeads: given("heads"), tfWindow: given("window"), tfAlibi: given("alibi") };
const dataOptions = { textLength: given("length"), textMerges: given("merges") };
/** Byte-pair merges (--merges M), 0 for characters. */
const merges = Number(dataOptions.textMerges ?? 0);
// Batch 32: the CLI default of 256 rows of 128 characters leaves too few steps for a 20-minute budget.
const trainOptions = { batchSize: given("batch") ?? "32", lr: given("lr"), lrSchedule: given("lr-schedule") };
const netFlags = [...asFlags(dataOptions), ...asFlags(netOptions), ...asFlags(trainOptions)];
/** Characters per block of the block settings (the CLI's default, 2). */
const blockSize = arg("block", "2");
const template = arg("infill", "Emma was ______________ and she said that ______________________");

const settings: Record<string, { flags: string[]; label: string }> = {
  "mask-elbo": { flags: ["--process", "mask", "--weighting", "elbo"], label: "masking, ELBO weighting" },
  "mask-mean": { flags: ["--process", "mask", "--weighting", "mean"], label: "masking, mean weighting" },
  "mask-count": { flags: ["--process", "mask", "--weighting", "count"], label: "masking, ELBO in count form" },
  "replace-elbo": { flags: ["--process", "replace", "--weighting", "elbo"], label: "replacement (uniform), ELBO" },
  "replace-mean": { flags: ["--process", "replace", "--weighting", "mean"], label: "replacement (uniform), mean CE" },
  ar: { flags: ["--process", "ar"], label: "autoregressive baseline" },
  block: { flags: ["--process", "block", "--block", blockSize], label: `block diffusion (BD3-LM), blocks of ${blockSize}, mean weighting` },
  "block-elbo": { flags: ["--process", "block", "--block", blockSize, "--weighting", "elbo"], label: `block diffusion (BD3-LM), blocks of ${blockSize}, ELBO weighting` },
  torch: { flags: ["--process", "mask", "--weighting", "elbo"], label: "PyTorch twin of masking (ELBO)" },
  "torch-mean": { flags: ["--process", "mask", "--weighting", "mean"], label: "PyTorch twin of masking (mean)" },
  "torch-block": { flags: ["--process", "block", "--block", blockSize, "--weighting", "mean"], label: `PyTorch twin of block diffusion, blocks of ${blockSize} (mean)` },
};

interface SamplerResult {
  r: number;
  steps: number;
  wordShare: number;
  seconds: number;
  samples: string[];
}

interface Result {
  setting: string;
  label: string;
  command: string;
  book: string;
  budgetSeconds: number;
  trainSteps: number;
  trainSeconds: number;
  weights: number;
  length: number;
  /** Characters a held-out chunk spells: the length, or more with byte-pair tokens (--merges). */
  charactersPerChunk: number;
  merges: number;
  bitsPerChar: number;
  bitsPerCharStderr: number;
  nllMethod: string;
  heldOutRows: number;
  wordShareHeldOut: number;
  samplers: SamplerResult[];
  infill?: { template: string; samples: string[] };
  compressors: { gzip: number; xz: number | null };
  loadAverage: number[];
}

const show = (s: string) => s.replace(/\n/g, "⏎");

/** bits/char, word share at each sampler setting, samples and infilling: the same for every setting. */
async function score(setting: string, m: Model, trainSteps: number, trainSeconds: number, command: string): Promise<Result> {
  const data = m.data as TextDataSet;
  const L = data.train.shape[1];
  const ar = m.spec.process.name === "ar";
  console.log(`# scoring ${setting}: held-out bits/char on ${data.heldOut.shape[0]} chunks of ${L}`);
  const nll = await m.setup.nll!(m.denoiser, data.heldOut, 1);
  console.log(`#   ${nll.bitsPerDim.toFixed(3)} ± ${nll.bitsPerDimStderr.toFixed(3)} bits/char (${nll.method})`);
  const samplers: SamplerResult[] = [];
  // The AR process reveals one position per step: L steps (r plays no role, its noise is fixed).
  // The block process needs a multiple of its K blocks (every block boundary a grid time): 16 -> 32 for K = 32.
  const K = (m.setup.process as { blocks?: number }).blocks ?? 1;
  const perBlock = [...new Set(stepsList.map((s) => Math.ceil(s / K) * K))];
  const grid: [number, number][] = ar ? [[0, L]] : [0, 1].flatMap((r) => perBlock.map((s) => [r, s] as [number, number]));
  for (const [r, steps] of grid) {
    const res = await drawSamples(m, { r, steps, grid: "uniform", n: nSamples, seed: 2 });
    const metrics = (await data.metrics!(res.samples)) as { wordShare: number };
    const rows = Array.from({ length: res.samples.shape[0] }, (_, b) => decode(res.samples.data.subarray(b * L, b * L + L), { chars: data.chars }));
    samplers.push({ r, steps, wordShare: metrics.wordShare, seconds: res.seconds, samples: rows.slice(0, 4) });
    console.log(`#   r = ${r}, ${steps} steps: word share ${(100 * metrics.wordShare).toFixed(1)}% (${res.seconds.toFixed(1)} s)\n${rows.slice(0, 2).map((s) => `      ${show(s)}`).join("\n")}`);
  }
  let infill: Result["infill"];
  if (m.spec.process.name === "mask") {
    const known = textInfill(data, template);
    const x = await sample({ process: m.setup.process, denoiser: infillDenoiser(m.denoiser, known), grid: makeGrid("uniform", L, m.setup.process.time), r: 0, rng: new Rng(4), shape: [4, L] });
    infill = { template, samples: Array.from({ length: 4 }, (_, b) => decode(x.data.subarray(b * L, b * L + L), { chars: data.chars })) };
  }
  const text = Buffer.from(data.heldOutText, "latin1");
  let xz: number | null = null;
  try {
    xz = (8 * execFileSync("xz", ["-9e", "-c"], { input: text, maxBuffer: 1 << 28 }).length) / data.heldOutText.length;
  } catch {
    xz = null;
  }
  const share = (await data.metrics!(data.heldOut)) as { wordShareHeldOut: number };
  return {
    setting,
    label: settings[setting].label,
    command,
    book,
    budgetSeconds: seconds,
    trainSteps,
    trainSeconds,
    weights: paramCount(m.params),
    length: L,
    charactersPerChunk: (data.characters?.(data.heldOut) ?? data.heldOut.data.length) / data.heldOut.shape[0],
    merges,
    bitsPerChar: nll.bitsPerDim,
    bitsPerCharStderr: nll.bitsPerDimStderr,
    nllMethod: nll.method,
    heldOutRows: data.heldOut.shape[0],
    wordShareHeldOut: share.wordShareHeldOut,
    samplers,
    infill,
    compressors: { gzip: (8 * gzipSync(text, { level: 9 }).length) / data.heldOutText.length, xz },
    loadAverage: (await import("node:os")).loadavg(),
  };
}

/** Train with the CLI (udm train), then load the checkpoint as udm eval does; --from RUN scores that run instead. */
async function runCli(setting: string, dir: string): Promise<Result> {
  const from = arg("from", "");
  let run = { dir: from, command: `(trained elsewhere) ${from}`, seconds: undefined as number | undefined };
  if (!from) {
    const args = ["train", "--data", `text:${book}`, ...settings[setting].flags, ...netFlags, "--steps", "10000000", "--max-seconds", String(seconds), "--held-out", "100000", "--out", dir, ...(has("force") ? ["--force"] : [])];
    const command = `udm ${args.join(" ")}`;
    console.log(`# ${command}`);
    const t0 = performance.now();
    const code = await main(args);
    if (code !== 0) throw new Error(`bench/text: ${command} exited with ${code}`);
    run = { dir, command, seconds: (performance.now() - t0) / 1000 };
  }
  const m = await loadModel(run.dir);
  try {
    // A run trained elsewhere reports the training seconds its checkpoint recorded.
    return await score(setting, m, m.config.step, run.seconds ?? (m.config as { seconds?: number }).seconds ?? 0, run.command);
  } finally {
    disposeModel(m);
  }
}

/** The options given on the command line (undefined ones left to the schema's defaults). */
const definedOf = (o: Record<string, string | undefined>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));

/** The PyTorch twin: same data (written here), same budget, its EMA weights scored by the code above. */
async function runTorch(dir: string, setting: string): Promise<Result> {
  const flags = settings[setting].flags;
  const flag = (name: string) => flags[flags.indexOf(name) + 1];
  const weighting = flag("--weighting") as "mean" | "elbo";
  const block = flag("--process") === "block" ? Number(flag("--block")) : 0;
  const process = block ? { name: "block", options: { block, schedule: "linear", weighting } } : { name: "mask", options: { schedule: "linear", counted: false, weighting } };
  await initJax();
  // The CLI's schemas read the flags' strings themselves (numbers, true/false), as for `udm train`.
  const net = definedOf(netOptions);
  const textLength = dataOptions.textLength === undefined ? undefined : Number(dataOptions.textLength);
  const spec = { data: `text:${book}`, dataOptions: { textUnit: "auto", textLength, textMerges: merges }, n: 10000, heldOut: 100000, seed: 0, process, network: { name: "transformer", options: findNetwork("transformer", "tokens").options.parse(net) } };
  const s = await buildSetup(spec);
  const cfg = s.network.config as { vocab: number; length: number; dim: number; layers: number; heads: number; window: number; alibi?: boolean };
  // The CLI's training defaults, unless given.
  const t = trainSchema({ out: dir, steps: 1 }).parse(definedOf(trainOptions));
  mkdirSync(join(dir, "data"), { recursive: true });
  writeFileSync(join(dir, "data", "train.f32"), Buffer.from(s.data.train.data.buffer, s.data.train.data.byteOffset, s.data.train.data.byteLength));
  writeFileSync(join(dir, "data", "meta.json"), JSON.stringify({ vocab: cfg.vocab, length: cfg.length }));
  const pyArgs = [
    "bench/text_torch.py", "--data", join(dir, "data"), "--out", join(dir, "weights.safetensors"), "--seconds", String(seconds), "--threads", arg("threads", "2"),
    "--dim", String(cfg.dim), "--layers", String(cfg.layers), "--heads", String(cfg.heads), "--window", String(cfg.window), "--alibi", String(cfg.alibi ?? false),
    "--batch", String(t.batchSize), "--lr", String(t.lr), "--warmup", String(t.warmup), "--lr-schedule", t.lrSchedule, "--ema", String(t.emaDecay), "--weighting", weighting, "--block", String(block),
  ];
  const command = `/usr/bin/python3 ${pyArgs.join(" ")}`;
  console.log(`# ${command}`);
  const py = spawnSync("/usr/bin/python3", pyArgs, { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (py.status !== 0) throw new Error(`bench/text: the PyTorch twin failed (${py.status}); is python3-torch installed? (apt-get install python3-torch libopenblas0-pthread)`);
  const out = JSON.parse(py.stdout.trim().split("\n").pop()!);
  const params = toParams(decodeSafetensors(readFileSync(join(dir, "weights.safetensors"))).tensors);
  const denoiser = s.setup.denoiser(s.network, params);
  const m = { ...s, dir, runDir: dir, config: { step: out.steps } as Model["config"], params, denoiser } as Model;
  try {
    return await score(setting, m, out.steps, out.seconds, command);
  } finally {
    denoiser.dispose?.();
    tree.dispose(params);
  }
}

function report(): void {
  const results = Object.keys(settings)
    .map((s) => join(root, s, "result.json"))
    .filter(existsSync)
    .map((f) => JSON.parse(readFileSync(f, "utf8")) as Result);
  if (results.length === 0) throw new Error(`bench/text --report: no results under ${root}; run the settings first`);
  const r0 = results[0];
  console.log(`Held-out: the last 10% of ${r0.book}, ${r0.heldOutRows} chunks of ${r0.length} ${r0.merges ? `byte-pair tokens (${r0.merges} merges; ${r0.charactersPerChunk.toFixed(1)} characters)` : "characters"}; budget ${r0.budgetSeconds} s of training per setting; ${nSamples} samples per sampler setting.\n`);
  const cols = [...new Set(results.flatMap((r) => r.samplers.map((s) => `r = ${s.r}, ${s.steps}`)))];
  console.log(`| setting | weights | steps | held-out bits/char | real words: ${cols.join(" | ")} |`);
  console.log(`| --- | --- | --- | --- | ${cols.map(() => "---").join(" | ")} |`);
  for (const r of results) {
    const cell = (c: string) => {
      const s = r.samplers.find((x) => `r = ${x.r}, ${x.steps}` === c);
      return s ? `${(100 * s.wordShare).toFixed(1)}%` : "";
    };
    console.log(`| ${r.label} | ${(r.weights / 1e3).toFixed(0)}k | ${r.trainSteps} | ${r.bitsPerChar.toFixed(3)} ± ${r.bitsPerCharStderr.toFixed(3)} | ${cols.map(cell).join(" | ")} |`);
  }
  console.log(`| held-out text itself (the ceiling) | | | | ${(100 * r0.wordShareHeldOut).toFixed(1)}% |`);
  console.log(`| gzip -9 / xz -9e on the held-out text | | | ${r0.compressors.gzip.toFixed(3)} / ${r0.compressors.xz?.toFixed(3) ?? "n/a"} | |`);
  console.log("\nSamples (first two of each sampler setting, ⏎ = newline):\n```");
  for (const r of results) {
    for (const s of r.samplers) for (const x of s.samples.slice(0, 2)) console.log(`${r.setting.padEnd(9)} r=${s.r} ${String(s.steps).padStart(3)}: ${show(x)}`);
  }
  console.log("```");
  for (const r of results.filter((x) => x.infill)) {
    console.log(`\nInfilling with ${r.label} ("${r.infill!.template}", r = 0, ${r.length} steps):\n\`\`\`\n${r.infill!.samples.map(show).join("\n")}\n\`\`\``);
  }
  console.log("\nCommands:\n```sh");
  for (const r of results) console.log(r.command);
  console.log("```");
  console.log(`\nLoad averages during scoring: ${results.map((r) => `${r.setting} ${r.loadAverage[0].toFixed(1)}`).join(", ")}`);
}

await settingsMain("text", root, settings, { report, torch: runTorch, cli: runCli });
