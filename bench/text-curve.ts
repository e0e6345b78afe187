/**
 * Held-out bits/char along one text training run: `udm train` in segments
 * of --every steps, each resuming the last (the same run as one
 * uninterrupted one), the held-out bound of the EMA weights after each
 * segment (the masking NELBO; the exact chain rule for ar), the best
 * checkpoint kept (early stopping, for a model that overfits), a JSON curve
 * and a chart:
 *
 *   node --import tsx bench/text-curve.ts <out> --every N --until M [--from RUN] [udm train flags...]
 *   node --import tsx bench/text-curve.ts bench/out/curve/ar --every 250 --until 4000 --threads 1 --process ar
 *   node --import tsx bench/text-curve.ts bench/out/curve/mask --from bench/out/text-v2-2t/mask-mean --every 1500 --until 15000 --threads 1
 *
 * The fixed flags are the text bench's (--data text:austen-emma, batch 32,
 * --held-out 100000: the last 10% of the book). --from continues a copy of
 * an existing run folder (its checkpoint is left as it is).
 * Writes <out>/curve.json, <out>/curve.png, <out>/run (the run) and <out>/best.
 */
import { cpSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../src/viz/files.js";
import { linePlot } from "../src/viz/lineplot.js";
import { emmaTrainFlags, heldOutBound, udm } from "./udm.js";

const argv = process.argv.slice(2);
const out = argv.shift();
const take = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`);
  if (i < 0) return undefined;
  const [, v] = argv.splice(i, 2);
  return v;
};
const every = Number(take("every"));
const until = Number(take("until"));
const from = take("from");
if (!out || !(Number.isInteger(every) && every > 0) || !(Number.isInteger(until) && until >= every)) {
  console.error("usage: bench/text-curve.ts <out> --every N --until M [--from RUN] [udm train flags...]");
  process.exit(2);
}
const run = join(out, "run");
mkdirSync(out, { recursive: true });
if (from) {
  if (!existsSync(join(from, "checkpoint"))) throw new Error(`bench/text-curve: --from ${from} has no checkpoint`);
  rmSync(run, { recursive: true, force: true });
  cpSync(from, run, { recursive: true });
}
const base = from ? [] : emmaTrainFlags;

interface Point { step: number; seconds: number; bitsPerChar: number; stderr: number }
const curve: Point[] = [];
if (from) curve.push(await score());
const start = from ? curve[0].step : 0;
for (let k = (Math.floor(start / every) + 1) * every; k <= until; k += every) {
  await udm(["train", ...base, "--steps", String(k), "--out", run, "--quiet", ...(k === every && !from ? ["--force"] : ["--resume"]), ...argv], true);
  curve.push(await score());
}

/** The held-out bound of the run's checkpoint now; keeps it as <out>/best when it is the lowest so far. */
async function score(): Promise<Point> {
  const p = await heldOutBound(run);
  if (curve.every((q) => q.bitsPerChar > p.bitsPerChar)) {
    rmSync(join(out!, "best"), { recursive: true, force: true });
    cpSync(join(run, "checkpoint"), join(out!, "best"), { recursive: true });
  }
  console.log(JSON.stringify(p));
  save([...curve, p]);
  return p;
}

console.log(JSON.stringify({ out, best: bestOf(curve) }));

function bestOf(points: Point[]): Point {
  return points.reduce((a, b) => (b.bitsPerChar < a.bitsPerChar ? b : a));
}

/** curve.json and curve.png so far (rewritten after every point, so a stopped run keeps both). */
function save(points: Point[]): void {
  writeFileAtomic(join(out!, "curve.json"), JSON.stringify({ flags: argv.join(" "), from, curve: points }, null, 1));
  const best = bestOf(points);
  linePlot([{ label: "held-out bits/char", x: points.map((p) => p.step), y: points.map((p) => p.bitsPerChar) }], {
    title: `held-out bits/char during training (${argv.join(" ") || from}); best ${best.bitsPerChar} at step ${best.step}`, xLabel: "step", yLabel: "bits/char", logY: false, smooth: 0,
  }).save(join(out!, "curve.png"));
}
