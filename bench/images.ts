/**
 * Images bench (helper E): train each process on MNIST for the same
 * wall-clock budget, then score samples with the project's classifier
 * (Frechet distance of its features to the test set, class-histogram
 * entropy) for r = 0 / r = 1 and several step counts.
 *
 *   node --import tsx bench/images.ts train <gaussian|blur|heat|pixel-mask> [seconds=360]
 *   node --import tsx bench/images.ts eval [samples=100] [steps=10,50]
 *
 * Run ONE training at a time (the machine is shared). Checkpoints go to
 * bench/out/images/<process>/; sample grids to docs/images/; the table to
 * bench/out/images/results.md (and stdout).
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { init, tree } from "@jax-js/jax";
import type { Denoiser } from "../src/core/denoiser.js";
import { uniformGrid } from "../src/core/grid.js";
import type { Process } from "../src/core/process.js";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { cosine } from "../src/core/schedule.js";
import { sliceBatch, type Tensor } from "../src/core/tensor.js";
import { mnist } from "../src/data/mnist.js";
import { loadClassifier, sampleQuality } from "../src/images/classifier.js";
import { imageX0Denoiser, maskDenoiser } from "../src/images/denoisers.js";
import { maskedX0Objective, x0Objective } from "../src/images/objectives.js";
import { unet } from "../src/model/unet.js";
import { blurProcess, COLD_SIGMA, HOT_SIGMA } from "../src/processes/blur.js";
import { gaussian } from "../src/processes/gaussian.js";
import { heatProcess } from "../src/processes/heat.js";
import { pixelMaskProcess, unmasked } from "../src/processes/pixel-mask.js";
import { loadCheckpoint, toParams } from "../src/train/checkpoint.js";
import { gaussianDenoiser } from "../src/train/network-denoiser.js";
import { gaussianObjective } from "../src/train/objectives.js";
import { train } from "../src/train/train.js";
import type { Network, Objective, Params } from "../src/train/types.js";
import { imageGrid } from "../src/viz/image-grid.js";
import { linePlot } from "../src/viz/lineplot.js";

const OUT = "bench/out/images";
const NAMES = ["gaussian", "blur", "heat", "pixel-mask"] as const;
type Name = (typeof NAMES)[number];

interface Setup {
  label: string;
  process: Process<Tensor, Tensor>;
  objective: Objective<Tensor, Tensor>;
  network: Network;
  denoiser(net: Network, params: Params): Denoiser & { dispose(): void };
  /** Remove the mask channel (pixel masking) before scoring / drawing. */
  finish(x: Tensor): Tensor;
}

function setup(name: Name, data: Tensor): Setup {
  const channels = [8, 16, 32];
  const id = (x: Tensor) => x;
  switch (name) {
    case "gaussian": {
      const p = gaussian(cosine());
      return { label: "gaussian (cosine, v)", process: p, objective: gaussianObjective(p, "v"), network: unet({ inChannels: 1, channels }),
        denoiser: (n, w) => gaussianDenoiser(n, w, p, "v", { clip: 1 }), finish: id };
    }
    case "blur":
      return { label: `blur (cold, sigma ${COLD_SIGMA}, L1)`, process: blurProcess({ sigma: COLD_SIGMA, data }), objective: x0Objective("l1"),
        network: unet({ inChannels: 1, channels }), denoiser: imageX0Denoiser, finish: id };
    case "heat":
      return { label: `heat (hot, sigma ${HOT_SIGMA}, L1)`, process: heatProcess({ sigma: HOT_SIGMA, data }), objective: x0Objective("l1"),
        network: unet({ inChannels: 1, channels }), denoiser: imageX0Denoiser, finish: id };
    case "pixel-mask":
      return { label: "pixel mask (linear m)", process: pixelMaskProcess(), objective: maskedX0Objective("mse"),
        network: unet({ inChannels: 2, outChannels: 1, channels }), denoiser: maskDenoiser, finish: unmasked };
  }
}

await init("wasm");
const [cmd, a1, a2] = process.argv.slice(2);

if (cmd === "train") {
  const name = a1 as Name;
  if (!NAMES.includes(name)) throw new Error(`bench/images: process must be one of ${NAMES.join(", ")}, got ${a1}`);
  const seconds = Number(a2 ?? 360);
  const data = mnist().images;
  const s = setup(name, data);
  const dir = join(OUT, name);
  const t0 = Date.now();
  const res = await train({ process: s.process, network: s.network, objective: s.objective, data, steps: 1_000_000, batchSize: 16, lr: 2e-3, warmup: 50,
    // A short run: the EMA must forget the initial weights within ~50 steps (0.995 would still hold
    // 0.995^200 = 37 % of them after 200 steps).
    emaDecay: 0.98, seed: 0, outDir: dir, maxSeconds: seconds, metadata: { bench: name } });
  const el = (Date.now() - t0) / 1000;
  linePlot([{ label: "loss", y: res.losses }], { title: `${s.label}: training loss`, xLabel: "step" }).save(join(dir, "loss.png"));
  console.log(`${name}: ${res.step} steps in ${el.toFixed(0)} s (${(res.step / el).toFixed(2)} steps/s), last loss ${res.losses.at(-1)}`);
  tree.dispose(res.params);
  tree.dispose(res.ema);
} else if (cmd === "eval") {
  const n = Number(a1 ?? 100);
  const stepsList = (a2 ?? "10,50").split(",").map(Number);
  const data = mnist().images;
  const test = mnist({ split: "test", limit: 2000 }).images;
  const clf = loadClassifier("mnist");
  // The floor at this sample size: n real training images (disjoint from the test reference).
  const real = await sampleQuality(clf, sliceBatch(data, 0, n), test);
  const rows: string[] = [
    `| process | steps (per sample) | training | r = 0: FD / entropy | r = 1: FD / entropy |`,
    `|---|---|---|---|---|`,
    `| real training images (${n}, the floor) | - | - | ${real.frechet.toFixed(2)} / ${real.entropy.toFixed(3)} | |`,
  ];
  mkdirSync("docs/images", { recursive: true });
  for (const name of NAMES) {
    const dir = join(OUT, name);
    if (!existsSync(join(dir, "checkpoint"))) continue;
    const s = setup(name, data);
    const ck = loadCheckpoint(dir);
    const den = s.denoiser(s.network, toParams(ck.ema));
    for (const steps of stepsList) {
      const cells: string[] = [];
      for (const r of [0, 1]) {
        const rng = new Rng(1);
        const t0 = Date.now();
        const raw = await sample({ process: s.process, denoiser: den, grid: uniformGrid(steps), r, rng, shape: [n, 1, 28, 28] });
        const x = s.finish(raw);
        const q = await sampleQuality(clf, x, test);
        cells.push(`${q.frechet.toFixed(2)} / ${q.entropy.toFixed(3)}`);
        console.log(`${name} steps ${steps} r ${r}: FD ${q.frechet.toFixed(3)} entropy ${q.entropy.toFixed(3)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
        if (steps === stepsList[stepsList.length - 1]) imageGrid(sliceBatch(x, 0, Math.min(36, n)), { cols: 6, scale: 2, title: `${name} r=${r} ${steps} steps` }).save(`docs/images/${name}-r${r}-${steps}.png`);
      }
      rows.push(`| ${s.label} | ${steps} | ${ck.config.step} steps | ${cells[0]} | ${cells[1]} |`);
    }
    den.dispose();
  }
  const table = rows.join("\n");
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, "results.md"), table + "\n");
  console.log(table);
} else {
  console.error("usage: bench/images.ts train <process> [seconds] | eval [samples] [steps]");
  process.exitCode = 2;
}
