/**
 * Text benchmark: train the masking-diffusion Transformer on a book for a
 * fixed wall-clock budget, then report held-out bits per character (the
 * masking NELBO, src/text/elbo.ts) next to gzip -9 and xz -9e on the same
 * held-out text, and print samples (unconditional and infilled).
 *
 *   node --import tsx bench/text.ts [--book austen-emma] [--seconds 300] [--dim 64] [--layers 2] [--window 2] [--batch 32] [--lr 2e-3]
 *
 * The model scores each 64-character chunk on its own (no context beyond
 * the chunk); gzip and xz see the whole held-out text as one stream.
 */
import { execFileSync } from "node:child_process";
import { gzipSync } from "node:zlib";
import { init, tree } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { uniformGrid } from "../src/core/grid.js";
import { destruction } from "../src/core/schedule.js";
import { decode, encode, loadText } from "../src/data/text.js";
import { transformer } from "../src/model/transformer.js";
import { masking } from "../src/processes/masking.js";
import { categoricalDenoiser, networkCategorical } from "../src/text/denoiser.js";
import { maskingNelbo } from "../src/text/elbo.js";
import { infillDenoiser, parseTemplate } from "../src/text/infill.js";
import { tokenObjective } from "../src/text/objective.js";
import { train } from "../src/train/train.js";
import { paramCount } from "../src/model/layers.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const book = arg("book", "austen-emma");
const seconds = Number(arg("seconds", "300"));
const dim = Number(arg("dim", "64"));
const layers = Number(arg("layers", "2"));
const batch = Number(arg("batch", "32"));
const window = Number(arg("window", "2"));
const lr = Number(arg("lr", "2e-3"));
const L = 64;

await init("wasm");
const data = loadText(`text:${book}`, { length: L });
const V = data.vocab.chars.length;
const proc = masking({ vocab: V, schedule: destruction.linear() });
const net = transformer({ vocab: V, length: L, dim, layers, heads: 4, window });
console.log(`# ${book}: ${data.train.shape[0]} training chunks of ${L}, ${data.heldOut.shape[0]} held-out chunks (${data.heldOutText.length} chars), V = ${V}`);

const t0 = performance.now();
const res = await train({
  process: proc,
  network: net,
  objective: tokenObjective(proc),
  data: data.train,
  steps: 1_000_000,
  maxSeconds: seconds,
  batchSize: batch,
  lr,
  warmup: 100,
  emaDecay: 0.995,
  seed: 0,
  metadata: { vocabulary: data.vocab.chars.join("") },
});
const trainSec = (performance.now() - t0) / 1000;
const tail = res.losses.slice(-100);
console.log(`# trained ${res.step} steps in ${trainSec.toFixed(0)} s (${paramCount(res.ema)} weights, dim ${dim}, ${layers} layers, window ${window}, batch ${batch}, lr ${lr}); last-100 mean CE ${(tail.reduce((a, b) => a + b, 0) / tail.length).toFixed(3)} nats per masked char`);
tree.dispose(res.params);

const model = networkCategorical(net, res.ema);
const t1 = performance.now();
const nelbo = await maskingNelbo(model, proc, data.heldOut, { rng: new Rng(1), samplesPerSeq: 2 });
const evalSec = (performance.now() - t1) / 1000;

const text = Buffer.from(data.heldOutText, "latin1");
const gzBits = (8 * gzipSync(text, { level: 9 }).length) / data.heldOutText.length;
let xzBits: number | null = null;
try {
  xzBits = (8 * execFileSync("xz", ["-9e", "-c"], { input: text, maxBuffer: 1 << 28 }).length) / data.heldOutText.length;
} catch {
  xzBits = null;
}
console.log(`\n| method | held-out bits/char |\n| --- | --- |`);
console.log(`| masking diffusion (NELBO, ${res.step} steps / ${Math.round(trainSec)} s, chunks of ${L}) | ${nelbo.bitsPerChar.toFixed(3)} ± ${nelbo.stderrBits.toFixed(3)} |`);
console.log(`| gzip -9 (whole held-out text) | ${gzBits.toFixed(3)} |`);
console.log(`| xz -9e (whole held-out text) | ${xzBits === null ? "xz not found" : xzBits.toFixed(3)} |`);
console.log(`| uniform over the ${V} characters | ${Math.log2(V).toFixed(3)} |`);
console.log(`\n# NELBO on ${nelbo.estimates} (chunk, mask) draws in ${evalSec.toFixed(0)} s`);

const show = (x: { data: Float32Array }, n: number) => {
  for (let b = 0; b < n; b++) console.log(`    ${decode(x.data.subarray(b * L, b * L + L), data.vocab).replace(/\n/g, "⏎")}`);
};
const den = categoricalDenoiser(model, { maskId: proc.maskId });
console.log(`\nsamples (r = 0, ${L} steps):`);
show(await sample({ process: proc, denoiser: den, grid: uniformGrid(L), r: 0, rng: new Rng(2), shape: [4, L] }), 4);
console.log(`samples (r = 1, ${L} steps):`);
show(await sample({ process: proc, denoiser: den, grid: uniformGrid(L), r: 1, rng: new Rng(3), shape: [2, L] }), 2);
const template = "Emma was ______________ and she said that ______________________";
const known = parseTemplate(template, L, (s) => encode(s, data.vocab, "template"));
console.log(`infilling "${template}" (r = 0, ${L} steps):`);
show(await sample({ process: proc, denoiser: infillDenoiser(den, known), grid: uniformGrid(L), r: 0, rng: new Rng(4), shape: [4, L] }), 4);
model.dispose();
