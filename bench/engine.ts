/**
 * Engines side by side (issue 8): train steps/s and sampling throughput
 * (rows x steps / s) of the demo's MLP, the default UNet and a ~1 M-weight
 * UNet (batch 64), and the train step of the text benchmark's Transformer
 * (masking, ELBO loss; 128 characters, batch 32), on jax-js, the ONNX engine and PyTorch
 * (bench/engine_torch.py: the same networks, weight counts, process and
 * loops), at 1 and 2 threads. Every measurement is its own process (so its
 * peak RSS is its own); repeats are interleaved (rep -> model -> threads ->
 * task -> engine) and the table shows medians, with the load average before
 * and after. JSON of every run: bench/out/engine.json.
 *
 *   node --import tsx bench/engine.ts            # the full run (< 15 min on a quiet 2-core machine)
 *   node --import tsx bench/engine.ts --quick    # a check that everything runs (1 thread, 1 repeat, short budgets)
 *   options: --repeats 3 --threads 1,2 --models mlp,unet,unet1m,transformer --engines jax,onnx,torch --budget 2 (seconds per measurement)
 *
 * PyTorch runs as /usr/bin/python3 (Debian's python3-torch; apt-get install
 * python3-torch libopenblas0-pthread); without it those rows are skipped.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

type Model = "mlp" | "unet" | "unet1m" | "transformer";
type EngineKind = "jax" | "onnx" | "torch";
type Task = "train" | "sample";

/** The workloads: the demo's MLP (train batch 256, 2000 samples), two UNets at batch 64, the text Transformer (train only). */
const MODELS: Record<Model, { label: string; channels?: number[]; train: number; sample?: number }> = {
  mlp: { label: "MLP 2-128x3 (demo)", train: 256, sample: 2000 },
  unet: { label: "UNet [8,16,32] (default)", channels: [8, 16, 32], train: 64, sample: 64 },
  unet1m: { label: "UNet [28,56,112]", channels: [28, 56, 112], train: 64, sample: 64 },
  transformer: { label: "Transformer 128x4, window 2 (text)", train: 32 },
};

interface Result {
  rate: number;
  /** CPU time (all threads) per train step or sampling step: steadier than the rate on a busy machine. */
  cpuMs: number;
  weights: number;
  peakRssMiB: number;
}

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? undefined : process.argv[i + 1];
}
const list = <T extends string>(name: string, dflt: T[]): T[] => (flag(name)?.split(",") as T[] | undefined) ?? dflt;

if (process.argv.includes("--worker")) await worker();
else await orchestrate();

// ---------------------------------------------------------------- the orchestrator

async function orchestrate(): Promise<void> {
  const quick = process.argv.includes("--quick");
  const repeats = Number(flag("repeats") ?? (quick ? 1 : 3));
  const threads = list("threads", quick ? ["1"] : ["1", "2"]).map(Number);
  const models = list<Model>("models", ["mlp", "unet", "unet1m", "transformer"]);
  const engines = list<EngineKind>("engines", ["jax", "onnx", "torch"]);
  const budget = Number(flag("budget") ?? (quick ? 0.5 : 2));
  const torchOk = engines.includes("torch") && spawnSync("/usr/bin/python3", ["-c", "import torch"]).status === 0;
  if (engines.includes("torch") && !torchOk) console.log("pytorch: /usr/bin/python3 cannot import torch (apt-get install python3-torch libopenblas0-pthread); its rows are skipped");

  const load0 = loadavg();
  console.log(`# engine bench: ${JSON.stringify({ quick, repeats, threads, models, engines, budget })}`);
  console.log(`load average at start: ${load0.map((x) => x.toFixed(2)).join(" ")}`);
  const t0 = performance.now();
  const runs: { model: Model; engine: EngineKind; threads: number; task: Task; rep: number; result?: Result; error?: string }[] = [];
  for (let rep = 0; rep < repeats; rep++) {
    for (const model of models) {
      for (const th of threads) {
        for (const task of ["train", "sample"] as Task[]) {
          for (const engine of engines) {
            if (engine === "torch" && !torchOk) continue;
            if (task === "sample" && MODELS[model].sample === undefined) continue;
            // jax-js is slow on convolutions: one repeat of each UNet, and the 1 M-weight UNet only outside --quick.
            if (engine === "jax" && model !== "mlp" && (rep > 0 || (model === "unet1m" && quick))) continue;
            const r = measure(model, engine, th, task, budget);
            runs.push({ model, engine, threads: th, task, rep, ...r });
            const what = r.result ? `${r.result.rate.toFixed(2)} ${task === "train" ? "steps/s" : "rows x steps/s"}, ${r.result.cpuMs.toFixed(1)} CPU ms/step, peak RSS ${r.result.peakRssMiB.toFixed(0)} MiB` : `failed: ${r.error}`;
            console.log(`  rep ${rep + 1} ${model} ${engine} ${th} thread(s) ${task}: ${what}`);
          }
        }
      }
    }
  }
  const load1 = loadavg();
  console.log(`load average at end: ${load1.map((x) => x.toFixed(2)).join(" ")} (${((performance.now() - t0) / 60000).toFixed(1)} min)`);

  const median = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const pick = (model: Model, engine: EngineKind, th: number, task: Task) => runs.filter((r) => r.model === model && r.engine === engine && r.threads === th && r.task === task && r.result).map((r) => r.result!);
  const stat = (model: Model, engine: EngineKind, th: number, task: Task) => {
    const rs = pick(model, engine, th, task);
    return { rate: median(rs.map((r) => r.rate)), cpu: median(rs.map((r) => r.cpuMs)), rss: median(rs.map((r) => r.peakRssMiB)), weights: rs[0]?.weights, n: rs.length };
  };
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : "-");
  const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : "-");

  console.log(`\n| model (weights) | batch train / sample | threads | engine | train steps/s | train CPU ms/step | sampling rows x steps/s | sampling CPU ms/step | peak RSS MiB (train / sample) |`);
  console.log(`|---|---|---|---|---|---|---|---|---|`);
  for (const model of models) {
    for (const th of threads) {
      for (const engine of engines) {
        const tr = stat(model, engine, th, "train");
        const sa = stat(model, engine, th, "sample");
        if (!tr.n && !sa.n) continue;
        console.log(`| ${MODELS[model].label} (${tr.weights ?? sa.weights}) | ${MODELS[model].train} / ${MODELS[model].sample ?? "-"} | ${th} | ${engine === "jax" ? "jax-js" : engine === "torch" ? "PyTorch" : "ONNX"} | ${f(tr.rate, 2)} | ${f(tr.cpu, 1)} | ${f(sa.rate, 0)} | ${f(sa.cpu, 1)} | ${f(tr.rss, 0)} / ${f(sa.rss, 0)} |`);
      }
    }
  }
  console.log(`\n| model | threads | ONNX / PyTorch train | ONNX / PyTorch sampling | ONNX / jax-js train | ONNX / jax-js sampling | peak RSS ONNX / PyTorch (train) |`);
  console.log(`|---|---|---|---|---|---|---|`);
  for (const model of models) {
    for (const th of threads) {
      const s = (e: EngineKind, t: Task) => stat(model, e, th, t);
      console.log(`| ${MODELS[model].label} | ${th} | ${ratio(s("onnx", "train").rate, s("torch", "train").rate)} | ${ratio(s("onnx", "sample").rate, s("torch", "sample").rate)} | ${ratio(s("onnx", "train").rate, s("jax", "train").rate)} | ${ratio(s("onnx", "sample").rate, s("jax", "sample").rate)} | ${ratio(s("onnx", "train").rss, s("torch", "train").rss)} |`);
    }
  }
  const out = join(here, "out");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "engine.json"), JSON.stringify({ load: { start: load0, end: load1 }, runs }, null, 1) + "\n");
  console.log(`\nall runs: ${join(out, "engine.json")}`);
}

/** One workload in its own process; its last stdout line is the JSON result. */
function measure(model: Model, engine: EngineKind, threads: number, task: Task, budget: number): { result?: Result; error?: string } {
  const batch = String(MODELS[model][task] ?? 0);
  const warmup = engine === "jax" && model !== "mlp" ? "1" : "2";
  const common = ["--model", model, "--task", task, "--threads", String(threads), "--batch", batch, "--budget", String(budget), "--warmup", warmup];
  const cmd = engine === "torch" ? ["/usr/bin/python3", join(here, "engine_torch.py"), ...common] : [process.execPath, "--import", "tsx", fileURLToPath(import.meta.url), "--worker", "--engine", engine, ...common];
  const p = spawnSync(cmd[0], cmd.slice(1), { encoding: "utf8", timeout: 20 * 60_000, maxBuffer: 1 << 24 });
  const last = p.stdout?.trim().split("\n").at(-1);
  if (p.status !== 0 || !last) return { error: (p.stderr || p.error?.message || `exit ${p.status}`).trim().split("\n").at(-1) };
  const j = JSON.parse(last);
  return { result: { rate: j.trainStepsPerSec ?? j.sampleRowsStepsPerSec, cpuMs: j.cpuMsPerStep, weights: j.weights, peakRssMiB: j.peakRssMiB } };
}

// ---------------------------------------------------------------- a worker

async function worker(): Promise<void> {
  const engineName = flag("engine") as "jax" | "onnx";
  const model = flag("model") as Model;
  const task = flag("task") as Task;
  const threads = Number(flag("threads"));
  const batch = Number(flag("batch"));
  const budget = Number(flag("budget"));
  const warmup = Number(flag("warmup") ?? 2);
  // jax-js sizes its Wasm worker pool from navigator.hardwareConcurrency (absent in Node 20: 4 workers).
  if (engineName === "jax" && typeof navigator === "undefined") (globalThis as { navigator?: unknown }).navigator = { hardwareConcurrency: threads };

  const { init, tree } = await import("@jax-js/jax");
  const { Rng } = await import("../src/core/rng.js");
  const { sample } = await import("../src/core/sampler.js");
  const { cosine } = await import("../src/core/schedule.js");
  const { uniformGrid } = await import("../src/core/grid.js");
  const { tensor } = await import("../src/core/tensor.js");
  const { toy2d } = await import("../src/data/toy2d.js");
  const { resolveEngine } = await import("../src/engine/index.js");
  const { mlp } = await import("../src/model/mlp.js");
  const { unet } = await import("../src/model/unet.js");
  const { paramCount } = await import("../src/model/layers.js");
  const { gaussian } = await import("../src/processes/gaussian.js");
  const { masking } = await import("../src/processes/masking.js");
  const { tokenObjective } = await import("../src/text/objective.js");
  const { transformer } = await import("../src/model/transformer.js");
  const { applyPreset } = await import("../src/samplers/presets.js");
  const { gaussianDenoiser } = await import("../src/train/network-denoiser.js");
  const { gaussianObjective } = await import("../src/train/objectives.js");
  const { train } = await import("../src/train/train.js");

  await init("wasm");
  const engine = (await resolveEngine(engineName, { threads })).engine;
  const proc = gaussian(cosine());
  const spec = MODELS[model];
  const text = model === "transformer";
  const V = 64;
  const network = text ? transformer({ vocab: V, length: 128, window: 2 }) : spec.channels ? unet({ inChannels: 1, channels: spec.channels }) : mlp({ inputDim: 2, hidden: 128, depth: 3 });
  const rng = new Rng(0);
  const data = text
    ? tensor([2048, 128], Float32Array.from({ length: 2048 * 128 }, () => rng.int(V)))
    : spec.channels
      ? tensor([2048, 1, 28, 28], Float32Array.from({ length: 2048 * 784 }, () => 2 * rng.uniform() - 1))
      : toy2d("moons", 10000, 0);
  const tokens = masking({ vocab: V });
  const init0 = network.init(0);
  const weights = paramCount(init0);
  let result: Record<string, number>;

  if (task === "train") {
    // One run: `warmup` steps (compile), then steps until the budget is spent (at least one).
    const stamps: number[] = [];
    let cpu0: NodeJS.CpuUsage | undefined;
    let cpu: NodeJS.CpuUsage | undefined;
    class Enough extends Error {}
    try {
      const common = {
        network, data, steps: 1e9, batchSize: batch, lr: 1e-3, emaDecay: 0.995, seed: 0, engine,
        onProgress: (p: { step: number }) => {
          stamps.push(performance.now());
          if (p.step === warmup) cpu0 = process.cpuUsage();
          if (p.step > warmup && stamps.at(-1)! - stamps[warmup - 1] >= budget * 1000) {
            cpu = process.cpuUsage(cpu0);
            throw new Enough();
          }
        },
      };
      if (text) await train({ process: tokens, objective: tokenObjective(tokens, { weighting: "elbo" }), ...common });
      else await train({ process: proc, objective: gaussianObjective(proc, "v"), ...common });
    } catch (e) {
      if (!(e instanceof Enough)) throw e;
    }
    const n = stamps.length - warmup;
    result = { trainStepsPerSec: n / ((stamps.at(-1)! - stamps[warmup - 1]) / 1000), cpuMsPerStep: (cpu!.user + cpu!.system) / 1000 / n };
  } else {
    const den = gaussianDenoiser(network, init0, proc, "v", { engine, ...(spec.channels ? { clip: 1 } : {}) });
    const { r, denoiser } = applyPreset(proc, { name: "ddpm" }, den);
    const shape = [batch, ...data.shape.slice(1)];
    const run = async (steps: number) => {
      const t0 = performance.now();
      await sample({ process: proc, denoiser, grid: uniformGrid(steps), r, rng: new Rng(1), shape });
      return (performance.now() - t0) / 1000;
    };
    await run(warmup); // compile
    const perStep = await run(1);
    const steps = Math.max(1, Math.min(500, Math.round(budget / perStep)));
    const cpu0 = process.cpuUsage();
    const sec = await run(steps);
    const cpu = process.cpuUsage(cpu0);
    result = { sampleRowsStepsPerSec: (batch * steps) / sec, cpuMsPerStep: (cpu.user + cpu.system) / 1000 / steps };
    den.dispose();
  }
  tree.dispose(init0);
  console.log(JSON.stringify({ ...result, weights, peakRssMiB: process.resourceUsage().maxRSS / 1024, engine: engine.description }));
}
