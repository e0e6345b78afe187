/**
 * Where the ONNX engine spends its time: runs a few train steps (or sampling
 * steps) of bench/engine.ts's workloads with ONNX Runtime's profiler on,
 * prints the kernel time per ONNX op type (summed over the steps, after
 * warm-up) and writes ORT's optimised model beside the profile.
 *
 *   node --import tsx bench/engine-profile.ts [mlp|unet|unet1m|transformer] [train|sample] [threads]
 *
 * transformer: the text benchmark's masking model (CLI default Transformer with neighbour window 2,
 * 128 characters, vocabulary 64, batch 32).
 *
 * Output: bench/out/profile-<model>-<task>*.json (ORT trace, viewable in
 * chrome://tracing) and bench/out/profile-<model>-<task>.optimized.onnx.
 */
import { mkdirSync, readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { init } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { uniformGrid } from "../src/core/grid.js";
import { cosine } from "../src/core/schedule.js";
import { tensor } from "../src/core/tensor.js";
import { resolveEngine } from "../src/engine/index.js";
import { mlp } from "../src/model/mlp.js";
import { transformer } from "../src/model/transformer.js";
import { masking } from "../src/processes/masking.js";
import { tokenObjective } from "../src/text/objective.js";
import { unet } from "../src/model/unet.js";
import { gaussian } from "../src/processes/gaussian.js";
import { applyPreset } from "../src/samplers/presets.js";
import { gaussianDenoiser } from "../src/train/network-denoiser.js";
import { gaussianObjective } from "../src/train/objectives.js";
import { train } from "../src/train/train.js";

const model = process.argv[2] ?? "unet";
const task = process.argv[3] ?? "train";
const threads = Number(process.argv[4] ?? 1);
const out = join(dirname(fileURLToPath(import.meta.url)), "out");
mkdirSync(out, { recursive: true });
const prefix = join(out, `profile-${model}-${task}`);

await init("wasm");
const engine = (await resolveEngine("onnx", { threads, onnxSessionOptions: { enableProfiling: true, profileFilePrefix: prefix, optimizedModelFilePath: `${prefix}.optimized.onnx` } })).engine;
const channels = model === "unet1m" ? [28, 56, 112] : [8, 16, 32];
const V = 64;
const text = model === "transformer";
const network = model === "mlp" ? mlp({ inputDim: 2, hidden: 128, depth: 3 }) : text ? transformer({ vocab: V, length: 128, window: 2 }) : unet({ inChannels: 1, channels });
const item = model === "mlp" ? [2] : text ? [128] : [1, 28, 28];
const batch = model === "mlp" ? 256 : text ? 32 : 64;
const proc = gaussian(cosine());
const rng = new Rng(0);
const data = text
  ? tensor([1024, 128], Float32Array.from({ length: 1024 * 128 }, () => rng.int(V)))
  : tensor([1024, ...item], Float32Array.from({ length: 1024 * item.reduce((a, b) => a * b) }, () => rng.normal()));
const steps = model === "mlp" ? 60 : 8;
const skip = 2; // runs left out of the profile: the first ones warm up
const t0 = performance.now();
if (text) {
  if (task !== "train") throw new Error("engine-profile: the transformer is profiled on its train step only");
  const tokens = masking({ vocab: V });
  await train({ process: tokens, network, objective: tokenObjective(tokens, { weighting: "elbo" }), data, steps, batchSize: batch, seed: 0, engine });
} else if (task === "train") {
  await train({ process: proc, network, objective: gaussianObjective(proc, "v"), data, steps, batchSize: batch, seed: 0, engine });
} else {
  const init0 = network.init(0);
  const { r, denoiser } = applyPreset(proc, { name: "ddpm" }, gaussianDenoiser(network, init0, proc, "v", { engine }));
  await sample({ process: proc, denoiser, grid: uniformGrid(steps), r, rng, shape: [batch, ...item] });
}
console.log(`${model} ${task}: ${steps} steps in ${((performance.now() - t0) / 1000).toFixed(1)} s (compile included)`);
// ORT writes the profile when the session is released: wait for the engine's dispose.
await new Promise((r) => setTimeout(r, 500));

const files = readdirSync(out).filter((f) => f.startsWith(`profile-${model}-${task}`) && f.endsWith(".json"));
for (const f of files) {
  const events = JSON.parse(readFileSync(join(out, f), "utf8")) as { cat: string; name: string; ts: number; dur: number; args: { op_name?: string } }[];
  const all = events.filter((e) => e.cat === "Session" && e.name === "model_run").sort((a, b) => a.ts - b.ts);
  const from = all.length > skip ? all[skip].ts : 0;
  const runs = all.length - Math.min(skip, all.length);
  const byOp = new Map<string, number>();
  let total = 0;
  for (const e of events) {
    if (e.cat !== "Node" || !e.name.endsWith("_kernel_time") || e.ts < from) continue;
    byOp.set(e.args.op_name!, (byOp.get(e.args.op_name!) ?? 0) + e.dur);
    total += e.dur;
  }
  console.log(`\n${f}: ${runs} runs after ${skip} warm-up runs, kernel time ${(total / 1000 / Math.max(runs, 1)).toFixed(1)} ms per run`);
  for (const [op, us] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 12)) {
    console.log(`  ${op.padEnd(22)} ${(us / 1000 / Math.max(runs, 1)).toFixed(2).padStart(8)} ms/run  ${((100 * us) / total).toFixed(1)}%`);
  }
}
console.log(`\noptimised model: ${prefix}.optimized.onnx`);
