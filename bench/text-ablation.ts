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
import { emmaTrainFlags, heldOutBound, udm } from "./udm.js";

const [out, seconds, ...flags] = process.argv.slice(2);
if (!out || !(Number(seconds) > 0)) {
  console.error("usage: bench/text-ablation.ts <out> <seconds> [udm train flags...]");
  process.exit(2);
}
await udm(["train", ...emmaTrainFlags, "--steps", "10000000", "--max-seconds", seconds, "--out", out, "--force", "--quiet", ...flags], true);
const { step, bitsPerChar, stderr } = await heldOutBound(out);
console.log(JSON.stringify({ out, flags: flags.join(" "), steps: step, bitsPerChar, stderr }));
