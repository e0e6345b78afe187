/**
 * Why the encoder's norm is fixed: two `udm train --process encode` runs on
 * the same book, same network, same steps, one with --embed-norm sqrt-d
 * (every embedding rescaled to norm sqrt(d), as CDCD) and one with
 * --embed-norm none (free embeddings). Each run is trained in segments
 * (`--resume` continues exactly where the last segment stopped, so the
 * weights equal those of one uninterrupted run) and the embeddings are read
 * from the checkpoint after each segment. Then held-out bits/char
 * (`udm eval --nll`) and samples (`udm sample`).
 *
 *   node --import tsx bench/encoding-collapse.ts [--book austen-emma] [--steps 3000] [--segments 6]
 *       [--dim 64] [--layers 2] [--window 2] [--batch 32] [--lr 2e-3] [--embed-dim 16] [--nll-rows 512] [--curve-rows 128]
 *
 * Writes docs/encoding/collapse-norms.png, collapse-bits.png (held-out
 * bound after each segment) and collapse-loss.png, and
 * bench/out/encoding-collapse/results.md (also printed).
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { embeddingsHost, type EncoderNorm } from "../src/model/encoder-network.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";
import { linePlot } from "../src/viz/lineplot.js";
import { arg, udm } from "./udm.js";

const book = arg("book", "austen-emma");
const steps = Number(arg("steps", "3000"));
const segments = Number(arg("segments", "6"));
const d = Number(arg("embed-dim", "16"));
const nllRows = arg("nll-rows", "512");
const curveRows = arg("curve-rows", "128");
const OUT = "bench/out/encoding-collapse";
const PICS = "docs/encoding";
const common = ["--data", `text:${book}`, "--process", "encode", "--embed-dim", String(d), "--tf-dim", arg("dim", "64"), "--tf-layers", arg("layers", "2"),
  "--tf-window", arg("window", "2"), "--batch-size", arg("batch", "32"), "--lr", arg("lr", "2e-3"), "--warmup", "100", "--ema-decay", "0.995", "--held-out", nllRows, "--quiet"];


/** Norms of the embeddings as the network uses them (after the fixed-norm rescaling, if any). */
function usedNorms(dir: string, norm: EncoderNorm): number[] {
  const raw = loadCheckpoint(dir).params["encoder.emb"];
  const used = embeddingsHost(raw.data, norm, d);
  return Array.from({ length: raw.shape[0] }, (_, v) => Math.hypot(...used.subarray(v * d, v * d + d)));
}

interface Run {
  norm: EncoderNorm;
  at: number[];
  meanNorm: number[];
  maxNorm: number[];
  /** Held-out bits/char after each segment. */
  curve: number[];
  losses: number[];
  bits: number;
  stderr: number;
  samples: Record<string, string[]>;
}

const runs: Run[] = [];
mkdirSync(OUT, { recursive: true });
mkdirSync(PICS, { recursive: true });
for (const norm of ["sqrt-d", "none"] as EncoderNorm[]) {
  const dir = join(OUT, norm);
  const run: Run = { norm, at: [], meanNorm: [], maxNorm: [], curve: [], losses: [], bits: NaN, stderr: NaN, samples: {} };
  const t0 = performance.now();
  // Segment 0 is one step (the embeddings as initialised, up to one tiny warm-up step).
  for (let k = 0; k <= segments; k++) {
    const until = Math.max(1, Math.round((k * steps) / segments));
    await udm(["train", ...common, "--embed-norm", norm, "--steps", String(until), "--out", dir, ...(k === 0 ? ["--force"] : ["--resume"])]);
    const n = usedNorms(dir, norm);
    run.at.push(until);
    run.meanNorm.push(n.reduce((a, b) => a + b, 0) / n.length);
    run.maxNorm.push(Math.max(...n));
    // The held-out bound along the way (fewer rows than the final one).
    const curve = JSON.parse((await udm(["eval", "--checkpoint", dir, "-n", "2", "--steps", "4", "--nll", "--nll-rows", curveRows, "--json"])).at(-1)!);
    run.curve.push(curve.bitsPerDim);
    console.log(`${norm}: step ${until}/${steps}, embedding norm mean ${run.meanNorm.at(-1)!.toFixed(2)} max ${run.maxNorm.at(-1)!.toFixed(2)}, held-out ${curve.bitsPerDim.toFixed(3)} ± ${curve.bitsPerDimStderr.toFixed(3)} bits/char (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  run.losses = loadCheckpoint(dir).config.losses;
  const report = JSON.parse((await udm(["eval", "--checkpoint", dir, "-n", "4", "--steps", "16", "--nll", "--nll-rows", nllRows, "--json"])).at(-1)!);
  run.bits = report.bitsPerDim;
  run.stderr = report.bitsPerDimStderr;
  for (const [label, flags] of [["ddpm", ["--preset", "ddpm"]], ["r = 0", ["--r", "0"]]] as const) {
    const out = join(dir, `samples-${label.replace(/[^a-z0-9]+/g, "")}`);
    await udm(["sample", "--checkpoint", dir, "-n", "3", "--steps", "64", ...flags, "--out", out]);
    run.samples[label] = readFileSync(join(out, "samples.txt"), "utf8").trimEnd().split("\n");
  }
  runs.push(run);
}

const label = (r: Run) => (r.norm === "sqrt-d" ? `fixed norm sqrt(${d})` : "free norm");
linePlot(runs.map((r) => ({ label: label(r), x: r.at, y: r.meanNorm })), {
  title: `encoder: mean embedding norm during training (${book}, d = ${d})`, xLabel: "step", yLabel: "mean |E(v)|", logY: false, smooth: 0,
}).save(join(PICS, "collapse-norms.png"));
linePlot(runs.map((r) => ({ label: label(r), x: r.at, y: r.curve })), {
  title: `held-out bits/char (the bound, ${curveRows} chunks) during training`, xLabel: "step", yLabel: "bits/char", logY: false, smooth: 0,
}).save(join(PICS, "collapse-bits.png"));
linePlot(runs.map((r) => ({ label: label(r), y: r.losses })), {
  title: "training loss: cross-entropy -log q(x0 | x_t) per character", xLabel: "step", yLabel: "nats", logY: false,
}).save(join(PICS, "collapse-loss.png"));

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
const table = [
  `${book}, ${steps} steps each (same network: ${common.slice(6).join(" ")}), held-out bits/char on ${nllRows} chunks.`,
  "",
  "| encoder | mean norm at the end | training loss (last 100 steps) | held-out bits/char (bound) | sample (ddpm, 64 steps) |",
  "| --- | --- | --- | --- | --- |",
  ...runs.map((r) => `| ${label(r)} | ${r.meanNorm.at(-1)!.toFixed(2)} | ${mean(r.losses.slice(-100)).toFixed(3)} | ${r.bits.toFixed(3)} ± ${r.stderr.toFixed(3)} | \`${r.samples["ddpm"][0]}\` |`),
  "",
  ...runs.flatMap((r) => [`${label(r)}:`, ...Object.entries(r.samples).flatMap(([k, v]) => v.map((s) => `    ${k.padEnd(6)} ${s}`))]),
].join("\n");
console.log("\n" + table);
writeFileSync(join(OUT, "results.md"), table + "\n");
