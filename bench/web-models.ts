/**
 * Trains the playground's shipped models (web/public/models/): small MNIST
 * models for Gaussian noise, heat dissipation and pixel masking, and a
 * character masking model, each for a fixed wall-clock budget, then writes
 * NAME.json (recipe, training record) and NAME.safetensors (EMA weights).
 * Also writes the 256 MNIST test digits the page shows (mnist-256.bin).
 *
 *   node --import tsx bench/web-models.ts [--seconds 240] [NAME ...]
 *
 * NAMES: mnist-gaussian mnist-heat mnist-mask text-mask text-replace (default: all).
 * The recipes are web/src/recipes.ts, shared with the page.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { init, tree } from "@jax-js/jax";
import { sliceBatch, type Tensor } from "../src/core/tensor.js";
import { mnist } from "../src/data/mnist.js";
import { loadText } from "../src/data/text.js";
import { fromParams } from "../src/train/checkpoint.js";
import { encodeSafetensors } from "../src/train/safetensors.js";
import { train, type ClassLabels } from "../src/train/train.js";
import { imageSetup, textSetup, type ImageSpec, type ModelFile, type Setup, type TextSpec } from "../web/src/recipes.js";

const OUT = "web/public/models";
const BOOK = "carroll-alice";
const TEXT_LENGTH = 32;

interface Job {
  title: string;
  spec: ImageSpec | TextSpec;
  data: () => { train: Tensor; setup: Setup; name: string; labels?: ClassLabels };
  batchSize: number;
  lr: number;
}

/** Class-conditional MNIST models (10 digits, the null label 10% of the time) for class picking and guidance. */
const imageJob = (recipe: ImageSpec["recipe"], title: string, levels?: number): Job => {
  const spec: ImageSpec = { kind: "image", recipe, channels: [8, 16, 32], classes: 10, ...(levels ? { levels } : {}) };
  return {
    title, spec, batchSize: 64, lr: 2e-3,
    data: () => {
      const d = mnist();
      return { train: d.images, setup: imageSetup(spec, d.images), name: "mnist", labels: { ids: d.labels, classes: 10, drop: 0.1 } };
    },
  };
};

const JOBS: Record<string, Job> = {
  "mnist-gaussian": imageJob("gaussian", "MNIST, Gaussian noise"),
  "mnist-heat": imageJob("heat", "MNIST, heat dissipation"),
  "mnist-mask": imageJob("pixel-mask", "MNIST, pixel masking", 16),
  "text-mask": textJob("mask", "masking"),
  "text-replace": textJob("replace", "uniform replacement"),
};

function textJob(recipe: TextSpec["recipe"], what: string): Job {
  const d = loadText(`text:${BOOK}`, { length: TEXT_LENGTH });
  const spec: TextSpec = { kind: "text", recipe, chars: [...d.vocab.chars], length: TEXT_LENGTH, dim: 64, layers: 2, heads: 4 };
  return { title: `characters of ${BOOK}, ${what}`, spec, batchSize: 64, lr: 2e-3, data: () => ({ train: d.train, setup: textSetup(spec), name: `text:${BOOK}` }) };
}

const args = process.argv.slice(2);
const secIdx = args.indexOf("--seconds");
const seconds = secIdx >= 0 ? Number(args[secIdx + 1]) : 240;
if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, got ${args[secIdx + 1]}`);
const names = args.filter((a, i) => !a.startsWith("--") && i !== secIdx + 1);
for (const n of names) if (!(n in JOBS)) throw new Error(`bench/web-models: unknown model ${n}; one of ${Object.keys(JOBS).join(", ")}`);

await init("wasm");
mkdirSync(OUT, { recursive: true });
writeDigits();
for (const name of names.length ? names : Object.keys(JOBS)) {
  const job = JOBS[name];
  const { train: data, setup, name: dataName, labels } = job.data();
  const t0 = performance.now();
  let last = 0;
  const res = await train({
    process: setup.process, network: setup.network, objective: setup.objective, data, steps: 1_000_000, batchSize: job.batchSize, lr: job.lr, warmup: 50,
    emaDecay: 0.98, seed: 0, maxSeconds: seconds, labels,
    onProgress: (p) => {
      if (p.step - last >= 100) {
        last = p.step;
        console.log(`${name}: step ${p.step}, loss ${p.avgLoss.toFixed(4)}, ${p.stepsPerSec.toFixed(1)} steps/s`);
      }
    },
  });
  const secs = (performance.now() - t0) / 1000;
  const weights = await fromParams(res.ema);
  tree.dispose([res.params, res.ema]);
  const file: ModelFile = {
    name, title: job.title, spec: job.spec,
    training: { steps: res.step, seconds: Math.round(secs), batchSize: job.batchSize, lr: job.lr, data: dataName },
    command: `node --import tsx bench/web-models.ts --seconds ${seconds} ${name}`,
  };
  writeFileSync(join(OUT, `${name}.safetensors`), encodeSafetensors(weights));
  writeFileSync(join(OUT, `${name}.json`), JSON.stringify(file, null, 1) + "\n");
  console.log(`${name}: ${res.step} steps in ${secs.toFixed(0)} s, last loss ${res.losses.at(-1)?.toFixed(4)} -> ${OUT}/${name}.{json,safetensors}`);
}

/** 256 MNIST test digits as bytes [256, 784]: the page's forward strips, inpainting and blur/heat prior. */
function writeDigits(): void {
  const x = sliceBatch(mnist({ split: "test", limit: 256 }).images, 0, 256);
  writeFileSync(join(OUT, "mnist-256.bin"), Uint8Array.from(x.data, (v) => Math.round(((v + 1) / 2) * 255)));
}
