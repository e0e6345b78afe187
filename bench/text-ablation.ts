/**
 * Short text ablations: one `udm train` on Emma for a few minutes, then the
 * held-out masking NELBO of its EMA weights (what `udm eval --nll` reports),
 * printed as one JSON line. Run two side by side at one thread each to
 * compare two settings on equal terms:
 *
 *   node --import tsx bench/text-ablation.ts <out> <seconds> [udm train flags...]
 *   node --import tsx bench/text-ablation.ts bench/out/exp/w4 400 --threads 1 --process mask --weighting mean --tf-window 4
 *
 * The fixed flags are the text bench's: --data text:austen-emma, batch 32,
 * --held-out 100000 (the last 10% of the book), --max-seconds <seconds>.
 */
import { main } from "../src/cli/main.js";
import { loadModel } from "../src/cli/pipeline.js";
import type { TextDataSet } from "../src/cli/entries/text.js";

const [out, seconds, ...flags] = process.argv.slice(2);
if (!out || !(Number(seconds) > 0)) {
  console.error("usage: bench/text-ablation.ts <out> <seconds> [udm train flags...]");
  process.exit(2);
}
const args = ["train", "--data", "text:austen-emma", "--steps", "10000000", "--max-seconds", seconds, "--held-out", "100000", "--batch-size", "32", "--out", out, "--force", "--quiet", ...flags];
if ((await main(args)) !== 0) throw new Error(`bench/text-ablation: udm ${args.join(" ")} failed`);
const m = await loadModel(out);
const nll = await m.setup.nll!(m.denoiser, (m.data as TextDataSet).heldOut, 1);
console.log(JSON.stringify({ out, flags: flags.join(" "), steps: m.config.step, bitsPerChar: +nll.bitsPerDim.toFixed(4), stderr: +nll.bitsPerDimStderr.toFixed(4) }));
