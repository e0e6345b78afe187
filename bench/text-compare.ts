/**
 * The three text processes on one scale: encoding (Gaussian diffusion of
 * learned embeddings), masking and replacement, each trained by `udm train`
 * on the same book with the same Transformer for the same wall-clock
 * budget, then held-out bits per character from `udm eval --nll` (each
 * process's own variational bound) and samples from `udm sample`.
 *
 *   node --import tsx bench/text-compare.ts [--book austen-emma] [--seconds 300] [--processes encode,mask,replace]
 *       [--dim 64] [--layers 2] [--window 2] [--batch 32] [--lr 2e-3] [--embed-dim 16] [--nll-rows 1386] [--steps 64]
 *
 * Runs one training at a time. Checkpoints go to bench/out/text-compare/<process>/,
 * the table to bench/out/text-compare/results.md (and stdout).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { arg, udm } from "./udm.js";
import { TEXT_LENGTH } from "../src/cli/entries/text.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";

const book = arg("book", "austen-emma");
const seconds = arg("seconds", "300");
const processes = arg("processes", "encode,mask,replace").split(",");
const nllRows = arg("nll-rows", "1386");
const steps = arg("steps", "64");
const OUT = "bench/out/text-compare";

const net = ["--tf-dim", arg("dim", "64"), "--tf-layers", arg("layers", "2"), "--tf-window", arg("window", "2")];
const own: Record<string, string[]> = {
  encode: ["--embed-dim", arg("embed-dim", "16")],
  mask: ["--schedule", "linear"],
  replace: ["--schedule", "linear", "--variant", "uniform"],
};


interface Row {
  process: string;
  steps: number;
  seconds: number;
  bits: number;
  stderr: number;
  method: string;
  samples: Record<string, string[]>;
}

const rows: Row[] = [];
let scored = Number(nllRows);
mkdirSync(OUT, { recursive: true });
for (const p of processes) {
  if (!own[p]) throw new Error(`--processes: ${p} is not one of ${Object.keys(own).join(", ")}`);
  const dir = join(OUT, p);
  console.log(`\n# ${p}: training for ${seconds} s`);
  const t0 = performance.now();
  await udm(["train", "--data", `text:${book}`, "--process", p, ...own[p], ...net, "--batch-size", arg("batch", "32"), "--lr", arg("lr", "2e-3"),
    "--warmup", "100", "--ema-decay", "0.995", "--steps", "10000000", "--max-seconds", seconds, "--held-out", nllRows, "--out", dir, "--force", "--quiet"], true);
  const trainSec = (performance.now() - t0) / 1000;
  const report = JSON.parse((await udm(["eval", "--checkpoint", dir, "-n", "4", "--steps", "16", "--nll", "--nll-rows", nllRows, "--json"])).at(-1)!);
  const samples: Record<string, string[]> = {};
  const settings: [string, string[]][] = [["r = 0", ["--r", "0"]], ["r = 1", ["--r", "1"]], ...(p === "encode" ? ([["ddpm", ["--preset", "ddpm"]], ["dpm-solver++", ["--sampler", "dpm-solver++"]]] as [string, string[]][]) : [])];
  for (const [label, flags] of settings) {
    const out = join(dir, `samples-${label.replace(/[^a-z0-9]+/g, "")}`);
    await udm(["sample", "--checkpoint", dir, "-n", "3", "--steps", steps, ...flags, "--out", out]);
    samples[label] = readFileSync(join(out, "samples.txt"), "utf8").trimEnd().split("\n");
  }
  scored = report.nllRows;
  rows.push({ process: p, steps: loadCheckpoint(dir).config.step, seconds: trainSec, bits: report.bitsPerDim, stderr: report.bitsPerDimStderr, method: report.nllMethod, samples });
}

const table = [
  `Held-out ${book}, ${scored} chunks of ${TEXT_LENGTH} characters; each process trained for ${seconds} s (same Transformer: ${net.join(" ")}, batch ${arg("batch", "32")}, lr ${arg("lr", "2e-3")}).`,
  "",
  "| process | steps in budget | held-out bits/char (bound) | sample, r = 0, " + steps + " steps |",
  "| --- | --- | --- | --- |",
  ...rows.map((r) => `| ${r.process} | ${r.steps} | ${r.bits.toFixed(3)} ± ${r.stderr.toFixed(3)} | \`${r.samples["r = 0"][0]}\` |`),
  "",
  ...rows.flatMap((r) => [`${r.process}: ${r.method}`, ...Object.entries(r.samples).flatMap(([k, v]) => v.map((s) => `    ${k.padEnd(6)} ${s}`))]),
].join("\n");
console.log("\n" + table);
writeFileSync(join(OUT, "results.md"), table + "\n");
