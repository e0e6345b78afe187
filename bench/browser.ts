/**
 * Speed of the playground in headless Chromium (Debian's, Wasm back end)
 * beside the same work in Node (Wasm too):
 *   - 2-D training steps/s of the default model (moons, cosine, v, MLP 128x3, batch 256);
 *   - the target: energy distance to held-out data within 2x of its floor
 *     after at most 60 s of in-page training (DDPM and DDIM, 100 steps, 1000 samples);
 *   - MNIST sampling images/s from the shipped Gaussian checkpoint (20 steps, 16 images).
 *
 *   node --import tsx bench/browser.ts [--seconds 60] [--screenshots docs]
 *
 * Writes bench/out/browser.json and prints a Markdown table. Run it on a
 * quiet machine: the numbers are wall-clock. With --screenshots DIR it also
 * saves each panel as the bench left it (the README's pictures), after a
 * reverse animation, an inpainting and a text infill.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { init, numpy as np, tree } from "@jax-js/jax";
import { uniformGrid } from "../src/core/grid.js";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { scheduleByName } from "../src/core/schedule.js";
import { tensor } from "../src/core/tensor.js";
import { toy2d } from "../src/data/toy2d.js";
import { mlp } from "../src/model/mlp.js";
import { gaussian } from "../src/processes/gaussian.js";
import { gaussianObjective } from "../src/train/objectives.js";
import { decodeSafetensors } from "../src/train/safetensors.js";
import { setEngineDefaults } from "../src/engine/index.js";
import type { Params } from "../src/train/types.js";
import { openPlayground } from "../test/browser/page.js";
import { imageSetup, type ImageSpec, type ModelFile } from "../web/src/recipes.js";
import { LiveTrainer } from "../web/src/trainer.js";

const args = process.argv.slice(2);
const budget = args.includes("--seconds") ? Number(args[args.indexOf("--seconds") + 1]) : 60;
const shots = args.includes("--screenshots") ? args[args.indexOf("--screenshots") + 1] : undefined;
const TRAIN_STEPS = 300;

// --- Node -------------------------------------------------------------
await init("wasm");
// Like for like: Node runs the page's engine (jax-js on Wasm), not the onnx default.
setEngineDefaults({ engine: "jax" });
const proc = gaussian(scheduleByName("cosine"));
const trainer = new LiveTrainer({ process: proc, network: mlp({ inputDim: 2, hidden: 128, depth: 3 }), objective: gaussianObjective(proc, "v"), data: toy2d("moons", 8000, 0), batchSize: 256, lr: 0.002, warmup: 100, emaDecay: 0.995, seed: 0 });
await trainer.run(20); // compile
let t0 = performance.now();
await trainer.run(TRAIN_STEPS);
const nodeSteps = TRAIN_STEPS / ((performance.now() - t0) / 1000);
trainer.dispose();

const file = JSON.parse(readFileSync("web/public/models/mnist-gaussian.json", "utf8")) as ModelFile;
const { tensors } = decodeSafetensors(new Uint8Array(readFileSync("web/public/models/mnist-gaussian.safetensors")));
const digits = readFileSync("web/public/models/mnist-256.bin");
const setup = imageSetup(file.spec as ImageSpec, tensor([256, 1, 28, 28], Float32Array.from(digits, (b) => (b / 255) * 2 - 1)));
const params: Params = {};
for (const [k, t] of Object.entries(tensors)) params[k] = np.array(t.data).reshape([...t.shape]);
const den = setup.denoiser(params);
const rng = new Rng(0);
await sample({ process: setup.process, denoiser: den, grid: uniformGrid(2), r: 0, rng, shape: [16, 1, 28, 28] }); // compile
t0 = performance.now();
await sample({ process: setup.process, denoiser: den, grid: uniformGrid(20), r: 0, rng, shape: [16, 1, 28, 28] });
const nodeImages = 16 / ((performance.now() - t0) / 1000);
den.dispose();
tree.dispose(params);

// --- Chromium ---------------------------------------------------------
const s = await openPlayground();
type Api = Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>>;
const call = <T>(panel: string, fn: string, ...a: unknown[]) =>
  s.page.evaluate(([p, f, x]) => ((window as unknown as { udm: Api }).udm[p as string][f as string])(...(x as unknown[])), [panel, fn, a] as const) as Promise<T>;
const engine = await s.page.textContent("#engine");
// Steps/s: a fresh model, timed in the page (includes the page's live loss chart).
t0 = performance.now();
const losses = await call<number[]>("points", "train", 20_000, budget);
const pageSeconds = (performance.now() - t0) / 1000;
const pageSteps = losses.length / pageSeconds;
const ddpm = await call<{ energy: number; floor: number }>("points", "sample", { method: "ddpm", steps: 100, n: 1000 });
const ddim = await call<{ energy: number; floor: number }>("points", "sample", { method: "ddim", steps: 100, n: 1000 });
if (shots) {
  mkdirSync(shots, { recursive: true });
  await s.page.click("#p-reverse");
  await s.page.waitForTimeout(15_000);
  await s.page.locator("#points").screenshot({ path: `${shots}/playground-points.png` });
}
await s.page.click("button[data-panel=images]");
await call("images", "sample", { model: "mnist-gaussian", steps: 2, count: 16, r: 0 }); // compile
const img = await call<{ seconds: number; images: number }>("images", "sample", { model: "mnist-gaussian", steps: 20, count: 16, r: 0 });
if (shots) {
  await call("images", "sample", { model: "mnist-mask", steps: 28, count: 20, r: 0, digit: "all", guidance: 1 });
  await call("images", "paintBox", 4, 14, 24, 24);
  await call("images", "inpaint");
  await s.page.locator("#images").screenshot({ path: `${shots}/playground-images.png` });
  await s.page.click("button[data-panel=text]");
  await call("text", "infill", "Alice was ____ ____ of sitting", 32);
  await s.page.locator("#text").screenshot({ path: `${shots}/playground-text.png` });
}
await s.close();

const result = {
  engine, budgetSeconds: budget, uptime: readFileSync("/proc/loadavg", "utf8").trim(),
  node: { trainStepsPerSec: nodeSteps, mnistImagesPerSec: nodeImages },
  page: { trainStepsPerSec: pageSteps, trainSteps: losses.length, trainSeconds: pageSeconds, mnistImagesPerSec: img.images / img.seconds, ddpm, ddim },
};
mkdirSync("bench/out", { recursive: true });
writeFileSync("bench/out/browser.json", JSON.stringify(result, null, 1) + "\n");
const f = (v: number, d = 1) => v.toFixed(d);
console.log(`| | Node (jax-js, Wasm) | headless Chromium page (${engine?.replace("engine: jax-js on ", "").replace(/;.*/, "")}) |
|---|---:|---:|
| 2-D training, steps/s (MLP 128x3, batch 256) | ${f(nodeSteps)} | ${f(pageSteps)} |
| MNIST sampling, images/s (UNet 8,16,32; 20 steps) | ${f(nodeImages, 2)} | ${f(img.images / img.seconds, 2)} |

In-page training for ${f(pageSeconds)} s (${losses.length} steps): energy distance DDPM ${ddpm.energy.toFixed(4)}, DDIM ${ddim.energy.toFixed(4)}, floor ${ddpm.floor.toFixed(4)} (target: within 2x of the floor). Load average: ${result.uptime}.`);
