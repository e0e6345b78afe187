/**
 * MLP benchmark (npm run bench): training steps/s, sampling throughput and
 * peak RSS of the 2-D MLP denoiser on jax-js (Wasm, one thread), and the
 * same model in PyTorch (bench/mlp_torch.py) when Debian's /usr/bin/python3 has torch.
 *
 *   node --import tsx bench/mlp.ts [--steps 500] [--batch 256] [--hidden 128] [--depth 3] [--samples 2000] [--sample-steps 100]
 */
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { init } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { cosine } from "../src/core/schedule.js";
import { uniformGrid } from "../src/core/grid.js";
import { toy2d } from "../src/data/toy2d.js";
import { mlp } from "../src/model/mlp.js";
import { gaussian } from "../src/processes/gaussian.js";
import { applyPreset } from "../src/samplers/presets.js";
import { gaussianDenoiser } from "../src/train/network-denoiser.js";
import { gaussianObjective } from "../src/train/objectives.js";
import { train } from "../src/train/train.js";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!(Number.isInteger(v) && v > 0)) throw new Error(`bench: --${name} must be a positive integer, got ${process.argv[i + 1]}`);
  return v;
}

const cfg = {
  steps: arg("steps", 500),
  batch: arg("batch", 256),
  hidden: arg("hidden", 128),
  depth: arg("depth", 3),
  samples: arg("samples", 2000),
  sampleSteps: arg("sample-steps", 100),
};

await init("wasm");
const process_ = gaussian(cosine());
const objective = gaussianObjective(process_, "v");
const network = mlp({ inputDim: 2, hidden: cfg.hidden, depth: cfg.depth });
const data = toy2d("moons", 10000, 0);

// A short warm-up run compiles the jitted step; the timed run is a fresh one (compile included once more, amortised).
await train({ process: process_, network, objective, data, steps: 20, batchSize: cfg.batch, seed: 0 }).then((r) => {
  for (const p of [r.params, r.ema]) for (const a of Object.values(p)) a.dispose();
});
const t0 = performance.now();
const res = await train({ process: process_, network, objective, data, steps: cfg.steps, batchSize: cfg.batch, seed: 0 });
const trainSec = (performance.now() - t0) / 1000;

const denoiser = gaussianDenoiser(network, res.ema, process_, "v");
const { r, denoiser: d } = applyPreset(process_, { name: "ddpm" }, denoiser);
await sample({ process: process_, denoiser: d, grid: uniformGrid(2), r, rng: new Rng(0), shape: [cfg.samples, 2] }); // compile
const t1 = performance.now();
await sample({ process: process_, denoiser: d, grid: uniformGrid(cfg.sampleSteps), r, rng: new Rng(1), shape: [cfg.samples, 2] });
const sampleSec = (performance.now() - t1) / 1000;

const jax = {
  trainStepsPerSec: cfg.steps / trainSec,
  sampleRowsStepsPerSec: (cfg.samples * cfg.sampleSteps) / sampleSec,
  peakRssMiB: process.resourceUsage().maxRSS / 1024,
  finalLoss: res.losses.slice(-50).reduce((a, b) => a + b, 0) / 50,
};
console.log(`config: ${JSON.stringify(cfg)}`);
console.log(`jax-js (wasm): ${jax.trainStepsPerSec.toFixed(1)} train steps/s, ${Math.round(jax.sampleRowsStepsPerSec)} sample rows x steps/s, peak RSS ${jax.peakRssMiB.toFixed(0)} MiB, mean loss of the last 50 steps ${jax.finalLoss.toFixed(4)}`);

// PyTorch, when available: Debian's python3-torch, so Debian's interpreter
// (the `python3` first on PATH may be another one, without torch).
const TORCH_PYTHON = "/usr/bin/python3";
const script = join(dirname(fileURLToPath(import.meta.url)), "mlp_torch.py");
let torch: typeof jax | undefined;
let torchError = "";
try {
  const args = [script, ...Object.entries(cfg).flatMap(([k, v]) => [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, String(v)])];
  torch = JSON.parse(execFileSync(TORCH_PYTHON, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim().split("\n").at(-1)!);
} catch (e) {
  torchError = String((e as { stderr?: string }).stderr || (e as Error).message).trim().split("\n").at(-1) ?? "";
}
if (!torch) console.log(`pytorch: not available in ${TORCH_PYTHON} (${torchError}; Debian: apt-get install python3-torch libopenblas0-pthread); ratio skipped`);
else {
  console.log(`pytorch (cpu, 1 thread): ${torch.trainStepsPerSec.toFixed(1)} train steps/s, ${Math.round(torch.sampleRowsStepsPerSec)} sample rows x steps/s, peak RSS ${torch.peakRssMiB.toFixed(0)} MiB, mean loss of the last 50 steps ${torch.finalLoss.toFixed(4)}`);
  console.log(`ratio jax-js / pytorch: training ${(jax.trainStepsPerSec / torch.trainStepsPerSec).toFixed(2)}x, sampling ${(jax.sampleRowsStepsPerSec / torch.sampleRowsStepsPerSec).toFixed(2)}x`);
}
console.log(JSON.stringify({ config: cfg, jax, torch: torch ?? null }));
