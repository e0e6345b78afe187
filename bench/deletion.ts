/**
 * Deletion vs masking on the same text and the same wall-clock budget: the
 * phrases of a book (text between punctuation marks, 1..32 characters, so
 * lengths vary), a deletion model (insertion Transformer) and a masking
 * model (Transformer, PAD as one more token) with the same trunk, each
 * trained for --seconds; then held-out bits/char (both upper bounds:
 * deletion's continuous-time bound, masking's NELBO, over the same
 * characters), samples, and the length distribution of samples vs data.
 *
 *   node --import tsx bench/deletion.ts [--book austen-emma] [--seconds 300] [--dim 64] [--layers 2]
 *       [--batch 32] [--lr 2e-3] [--max-length 32] [--eval-rows 500] [--samples 500] [--steps 64] [--out bench/out/deletion]
 *
 * Writes OUT/results.md (the table), OUT/samples-{deletion,masking}.txt.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { init, tree } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { uniformGrid } from "../src/core/grid.js";
import { rowLengths, rowTokens } from "../src/core/padded.js";
import { sliceBatch, type Tensor } from "../src/core/tensor.js";
import { decode, loadTextUnits } from "../src/data/text.js";
import { insertionTransformer } from "../src/model/insertion.js";
import { transformer } from "../src/model/transformer.js";
import { paramCount } from "../src/model/layers.js";
import { deletion } from "../src/processes/deletion.js";
import { masking } from "../src/processes/masking.js";
import { deletionBound } from "../src/text/deletion-bound.js";
import { categoricalDenoiser, networkCategorical } from "../src/text/denoiser.js";
import { maskingNelbo } from "../src/text/elbo.js";
import { insertionDenoiser, insertionObjective, insertionRates, networkInsertion } from "../src/text/insertion.js";
import { tokenObjective } from "../src/text/objective.js";
import { train, type TrainResult } from "../src/train/train.js";

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const book = arg("book", "austen-emma");
const seconds = Number(arg("seconds", "300"));
const dim = Number(arg("dim", "64"));
const layers = Number(arg("layers", "2"));
const batch = Number(arg("batch", "32"));
const lr = Number(arg("lr", "2e-3"));
const L = Number(arg("max-length", "32"));
const evalRows = Number(arg("eval-rows", "500"));
const nSamples = Number(arg("samples", "500"));
const steps = Number(arg("steps", "64"));
const out = arg("out", "bench/out/deletion");
const load = () => loadavg().map((x) => x.toFixed(2)).join(", ");

await init("wasm");
mkdirSync(out, { recursive: true });
const data = loadTextUnits(`text:${book}`, { unit: "phrase", maxLength: L });
const V = data.vocab.chars.length;
const held = sliceBatch(data.heldOut, 0, Math.min(evalRows, data.heldOut.shape[0]));
console.log(`# ${book}: ${data.train.shape[0]} training phrases, ${data.heldOut.shape[0]} held-out (scored: ${held.shape[0]}), 1..${L} characters, V = ${V}; load average at start ${load()}`);

const del = deletion({ vocab: V });
const mask = masking({ vocab: V + 1 }); // PAD (id V) is a token; [MASK] is V + 1
const delNet = insertionTransformer({ vocab: V, maxLength: L, dim, layers, heads: 4 });
const maskNet = transformer({ vocab: V + 1, inputVocab: V + 2, length: L, dim, layers, heads: 4 });

async function fit(name: string, run: () => Promise<TrainResult>): Promise<TrainResult & { seconds: number }> {
  const t0 = performance.now();
  const res = await run();
  const s = (performance.now() - t0) / 1000;
  const tail = res.losses.slice(-100);
  console.log(`# ${name}: ${res.step} steps in ${s.toFixed(0)} s, ${paramCount(res.ema)} weights, last-100 mean loss ${(tail.reduce((a, b) => a + b, 0) / tail.length).toFixed(3)}; load ${load()}`);
  tree.dispose(res.params);
  return { ...res, seconds: s };
}
const common = { data: data.train, steps: 10_000_000, maxSeconds: seconds, batchSize: batch, lr, warmup: 100, emaDecay: 0.995, seed: 0 };
const delRun = await fit("deletion", () => train({ ...common, process: del, network: delNet, objective: insertionObjective(del, L) }));
const maskRun = await fit("masking", () => train({ ...common, process: mask, network: maskNet, objective: tokenObjective(mask) }));

// ---- held-out bits/char: both bounds over the same characters ----
const chars = rowLengths(held, V).reduce((a, n) => a + n, 0);
const delModel = networkInsertion(delNet, delRun.ema);
const delBound = await deletionBound(insertionRates(delModel, del.schedule), held, V, { rng: new Rng(1), draws: 2 });
const maskModel = networkCategorical(maskNet, maskRun.ema);
const maskElbo = await maskingNelbo(maskModel, mask, held, { rng: new Rng(1), samplesPerSeq: 4 });
const maskBits = (maskElbo.natsPerSeq * held.shape[0]) / (chars * Math.LN2);
const maskSe = (maskElbo.stderrBits * L * held.shape[0]) / chars;

// ---- samples (r = 0) and their lengths ----
const delSamples = await sample({ process: del, denoiser: insertionDenoiser(delModel, del), grid: uniformGrid(steps), r: 0, rng: new Rng(2), shape: [nSamples, L] });
const maskSamples = await sample({ process: mask, denoiser: categoricalDenoiser(maskModel, { maskId: mask.maskId }), grid: uniformGrid(steps), r: 0, rng: new Rng(3), shape: [nSamples, L] });
const text = (x: Tensor) => Array.from({ length: x.shape[0] }, (_, b) => decode(rowTokens(x, b, V), data.vocab));
/** Masking may put PAD mid-row: a row whose PAD is followed by characters (cut at the first PAD when read). */
const brokenPadding = (x: Tensor) => Array.from({ length: x.shape[0] }, (_, b) => x.data.subarray(b * L, b * L + L)).filter((r) => r.some((v, i) => v !== V && i > 0 && r.slice(0, i).includes(V))).length / x.shape[0];
const histogram = (x: Tensor) => {
  const h = new Float64Array(L + 1);
  rowLengths(x, V).forEach((n) => (h[n] += 1 / x.shape[0]));
  return h;
};
const dataHist = histogram(held);
const tv = (h: Float64Array) => h.reduce((a, p, n) => a + Math.abs(p - dataHist[n]) / 2, 0);
const mean = (h: Float64Array) => h.reduce((a, p, n) => a + p * n, 0);
writeFileSync(join(out, "samples-deletion.txt"), text(delSamples).join("\n") + "\n");
writeFileSync(join(out, "samples-masking.txt"), text(maskSamples).join("\n") + "\n");

const lines: string[] = [];
const say = (s = "") => {
  console.log(s);
  lines.push(s);
};
say(`Phrases of ${book} (1..${L} characters), ${seconds} s of training each (load average at the end ${load()}), dim ${dim}, ${layers} layers, 4 heads, batch ${batch}, lr ${lr}; ${held.shape[0]} held-out phrases (${chars} characters) scored; ${nSamples} samples with r = 0, ${steps} steps.`);
say();
say("| model | steps in budget | held-out bits/char (upper bound) | mean length (data ${dm}) | length TV to data | rows with a PAD mid-row |".replace("${dm}", mean(dataHist).toFixed(1)));
say("| --- | --- | --- | --- | --- | --- |");
const dh = histogram(delSamples);
const mh = histogram(maskSamples);
say(`| deletion (insertion Transformer) | ${delRun.step} | ${delBound.bitsPerChar.toFixed(3)} ± ${delBound.stderrBits.toFixed(3)} | ${mean(dh).toFixed(1)} | ${tv(dh).toFixed(3)} | n/a |`);
say(`| masking (Transformer, PAD a token) | ${maskRun.step} | ${maskBits.toFixed(3)} ± ${maskSe.toFixed(3)} | ${mean(mh).toFixed(1)} | ${tv(mh).toFixed(3)} | ${(100 * brokenPadding(maskSamples)).toFixed(1)}% |`);
say();
say("Length distribution (share of rows), held-out data vs samples:");
say();
say("| length | data | deletion | masking |");
say("| --- | --- | --- | --- |");
for (let lo = 1; lo <= L; lo += 4) {
  const sum = (h: Float64Array) => h.slice(lo, Math.min(L, lo + 3) + 1).reduce((a, b) => a + b, 0);
  say(`| ${lo}-${Math.min(L, lo + 3)} | ${sum(dataHist).toFixed(3)} | ${sum(dh).toFixed(3)} | ${sum(mh).toFixed(3)} |`);
}
say(`| 0 | ${dataHist[0].toFixed(3)} | ${dh[0].toFixed(3)} | ${mh[0].toFixed(3)} |`);
say();
const show = (name: string, rows: string[]) => {
  say(`${name} samples:`);
  say();
  for (const r of rows.slice(0, 12)) say(`    ${JSON.stringify(r)}`);
  say();
};
show("Held-out", text(held));
show("Deletion", text(delSamples));
show("Masking", text(maskSamples));
writeFileSync(join(out, "results.md"), lines.join("\n") + "\n");
console.log(`# wrote ${join(out, "results.md")}`);
delModel.dispose();
maskModel.dispose();
