/**
 * Sample quality against model evaluations (NFE) for every Gaussian sampler:
 * the generic sampler (r = 0 and the DDPM r), Euler-Maruyama on the reverse
 * SDE, Euler / Heun / RK45 on the PF-ODE, DPM-Solver++(2M).
 *
 *   node --import tsx bench/solvers.ts [--quick]
 *
 * Data: the 3-blob mixture with its EXACT denoiser (oracle), and small MLPs
 * trained here on 8gaussians and moons (v-prediction, cached under
 * bench/out/solvers-mlp-*; delete to retrain). Quality: energy distance
 * between 1000 samples and 1000 held-out points (the noise floor, fresh data
 * against the held-out set, is reported too), and for the deterministic
 * samplers the median distance to the exact PF-ODE endpoint (tight RK45)
 * from the same x_1: all samplers start from the same x_1.
 * Also the PF-ODE bits/dim of held-out data (evalNll, exact divergence).
 * Writes bench/out/solvers.{json,md}, docs/solvers-nfe.png (energy) and
 * docs/solvers-endpoint.png (endpoint error); --quick writes bench/out only.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { init, tree } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { uniformGrid } from "../src/core/grid.js";
import { logSnrLinear } from "../src/core/schedule.js";
import { pointMass, type Denoiser } from "../src/core/denoiser.js";
import { sliceBatch, type Tensor } from "../src/core/tensor.js";
import { gaussian, ddimR } from "../src/processes/gaussian.js";
import { mixtureDenoiser, mixtureLogDensity, sampleMixture, testMixture2d } from "../src/oracles/mixture.js";
import { energyDistance } from "../src/metrics/energy.js";
import { toy2d, type Toy2dName } from "../src/data/toy2d.js";
import { mlp } from "../src/model/mlp.js";
import { train } from "../src/train/train.js";
import { gaussianObjective } from "../src/train/objectives.js";
import { gaussianDenoiser } from "../src/train/network-denoiser.js";
import { checkpointPath } from "../src/train/checkpoint.js";
import { sampleEuler, sampleHeun, sampleRk45 } from "../src/samplers/ode.js";
import { sampleEulerMaruyama } from "../src/samplers/sde.js";
import { sampleDpmSolver2M } from "../src/samplers/dpm-solver.js";
import { evalNll } from "../src/likelihood/eval.js";
import { chart } from "../src/viz/chart.js";
import { row } from "../src/viz/plots/compose.js";
import { lossPlot } from "../src/viz/plots/loss.js";

const quick = process.argv.includes("--quick");
const schedule = logSnrLinear(); // a(1) > 0, so the reverse SDE's f = a'/a is finite at t = 1
const gauss = gaussian(schedule);
const N = quick ? 300 : 1000;
const STEPS = quick ? [5, 10, 20] : [5, 10, 20, 50, 100, 200];
const RTOLS = quick ? [1e-2] : [1e-1, 3e-2, 1e-2, 1e-3, 1e-4];
const TRAIN_STEPS = quick ? 300 : 4000;

/** endpoint: median distance to the exact PF-ODE endpoint from the same x_1 (deterministic samplers only). */
interface Point { sampler: string; setting: string; nfe: number; energy: number; endpoint?: number; seconds: number }
interface SetResult { name: string; model: string; floor: number; points: Point[]; bitsPerDim?: number; bitsPerDimStderr?: number; exactBitsPerDim?: number; nllSeconds?: number }

type Run = (x1: Tensor, steps: number) => Promise<{ x: Tensor; nfe: number }>;

function samplers(denoiser: Denoiser): Record<string, Run> {
  const meanOnly = pointMass((x, t) => denoiser.mean!(x, t));
  return {
    "generic r=0": async (x1, steps) => ({ x: await sample({ process: gauss, denoiser: meanOnly, grid: uniformGrid(steps), r: 0, rng: new Rng(1), x1 }), nfe: steps }),
    "generic DDPM r": async (x1, steps) => ({ x: await sample({ process: gauss, denoiser: meanOnly, grid: uniformGrid(steps), r: ddimR(schedule, 1), rng: new Rng(1), x1 }), nfe: steps }),
    "EM-SDE": (x1, steps) => sampleEulerMaruyama({ schedule, denoiser, grid: uniformGrid(steps), x1, rng: new Rng(1) }),
    "Euler ODE": (x1, steps) => sampleEuler({ schedule, denoiser, grid: uniformGrid(steps), x1 }),
    // Heun spends 2 evaluations a step: give it the same budget.
    "Heun ODE": (x1, steps) => sampleHeun({ schedule, denoiser, grid: uniformGrid(Math.max(1, Math.ceil((steps + 1) / 2))), x1 }),
    "DPM-Solver++(2M)": (x1, steps) => sampleDpmSolver2M({ schedule, denoiser, grid: uniformGrid(steps), x1 }),
  };
}

const STOCHASTIC = new Set(["generic DDPM r", "EM-SDE"]);

function medianDistance(x: Tensor, y: Tensor): number {
  const n = x.shape[0];
  const e = Array.from({ length: n }, (_, i) => Math.hypot(x.data[2 * i] - y.data[2 * i], x.data[2 * i + 1] - y.data[2 * i + 1]));
  return e.sort((a, b) => a - b)[n >> 1];
}

async function benchSet(name: string, model: string, denoiser: Denoiser, x1: Tensor, heldOut: Tensor, floor: number): Promise<SetResult> {
  const points: Point[] = [];
  // The exact PF-ODE endpoint: tight RK45 to t = 1e-4, then the denoised mean.
  const exact = (await sampleRk45({ schedule, denoiser, x1, rtol: 1e-7, atol: 1e-7, tEnd: 1e-4 })).x;
  const timed = async (sampler: string, setting: string, run: () => Promise<{ x: Tensor; nfe: number }>) => {
    const t0 = performance.now();
    const { x, nfe } = await run();
    const seconds = (performance.now() - t0) / 1000;
    const p: Point = { sampler, setting, nfe, energy: energyDistance(x, heldOut), endpoint: STOCHASTIC.has(sampler) ? undefined : medianDistance(x, exact), seconds };
    points.push(p);
    console.log(`  ${name} ${sampler.padEnd(17)} ${setting.padEnd(12)} NFE ${String(nfe).padStart(4)}  energy ${p.energy.toFixed(4)}  endpoint ${p.endpoint?.toExponential(2) ?? "-"}  ${seconds.toFixed(1)} s`);
  };
  for (const [sampler, run] of Object.entries(samplers(denoiser))) {
    for (const steps of STEPS) await timed(sampler, `${steps} NFE`, () => run(x1, steps));
  }
  for (const rtol of RTOLS) await timed("RK45 ODE", `rtol ${rtol}`, () => sampleRk45({ schedule, denoiser, x1, rtol, atol: rtol, tEnd: 1e-3 }));
  return { name, model, floor, points };
}

async function trainedDenoiser(name: Toy2dName, data: Tensor) {
  const outDir = `bench/out/solvers-mlp-${name}${quick ? "-quick" : ""}`;
  const t0 = performance.now();
  const opts = {
    process: gauss, network: mlp({ inputDim: 2, hidden: 128, depth: 3, timeDim: 32 }), objective: gaussianObjective(gauss, "v"),
    data, steps: TRAIN_STEPS, batchSize: 256, lr: 1e-3, warmup: 200, emaDecay: 0.995, seed: 1, outDir, resume: true, checkpointEvery: 500,
  };
  let run;
  try {
    run = await train(opts);
  } catch (e) {
    // A NaN loss leaves the last checkpoint intact: use it (reported in the table as its step count).
    if (!/loss is NaN/.test(String(e))) throw e;
    const step = JSON.parse(readFileSync(`${checkpointPath(outDir)}/config.json`, "utf8")).step as number;
    console.log(`  ${String(e).split(";")[0]}; falling back to the checkpoint of step ${step}`);
    run = await train({ ...opts, steps: step });
  }
  console.log(`  trained/loaded ${name} MLP (${run.step} steps, ${((performance.now() - t0) / 1000).toFixed(0)} s), checkpoint ${outDir}`);
  const den = gaussianDenoiser(run.network, run.ema, gauss, "v");
  return { den, steps: run.step, dispose: () => { den.dispose(); tree.dispose([run.params, run.ema]); } };
}

async function main() {
  await init("wasm");
  mkdirSync("bench/out", { recursive: true });
  mkdirSync("docs", { recursive: true });
  const results: SetResult[] = [];
  const nllRows = quick ? 100 : 500;

  // 1. The mixture with its exact posterior: the samplers' own error, no model error.
  {
    const mix = testMixture2d();
    const rng = new Rng(11);
    const x1 = gauss.forward(sampleMixture(mix, N, rng), 1, gauss.noise([N, 2], rng));
    const heldOut = sampleMixture(mix, N, new Rng(12));
    const floor = mean([13, 14, 15, 16].map((seed) => energyDistance(sampleMixture(mix, N, new Rng(seed)), heldOut)));
    const oracle = mixtureDenoiser(mix, schedule);
    console.log(`mixture (oracle), floor ${floor.toFixed(4)}`);
    const res = await benchSet("mixture", "exact oracle", oracle, x1, heldOut, floor);
    const t0 = performance.now();
    const nll = await evalNll({ schedule, denoiser: oracle, data: sliceBatch(heldOut, 0, nllRows) });
    res.bitsPerDim = nll.bitsPerDim;
    res.bitsPerDimStderr = nll.bitsPerDimStderr;
    res.exactBitsPerDim = -mixtureLogDensity(mix, sliceBatch(heldOut, 0, nllRows)).reduce((a, b) => a + b) / nllRows / (2 * Math.LN2);
    res.nllSeconds = (performance.now() - t0) / 1000;
    results.push(res);
  }

  // 2. Trained MLPs on toy sets: sampler error plus model error.
  for (const name of ["8gaussians", "moons"] as const) {
    const data = toy2d(name, 20000, 1);
    const heldOut = toy2d(name, N, 2);
    const floor = mean([3, 4, 5, 6].map((seed) => energyDistance(toy2d(name, N, seed), heldOut)));
    console.log(`${name}, floor ${floor.toFixed(4)}`);
    const { den, steps, dispose } = await trainedDenoiser(name, data);
    const x1 = gauss.prior([N, 2], new Rng(21));
    const res = await benchSet(name, `MLP 128x3, ${steps} training steps`, den, x1, heldOut, floor);
    const t0 = performance.now();
    const nll = await evalNll({ schedule, denoiser: den, data: sliceBatch(heldOut, 0, nllRows) });
    res.bitsPerDim = nll.bitsPerDim;
    res.bitsPerDimStderr = nll.bitsPerDimStderr;
    res.nllSeconds = (performance.now() - t0) / 1000;
    results.push(res);
    dispose();
  }

  writeFileSync(`bench/out/solvers${quick ? "-quick" : ""}.json`, JSON.stringify({ schedule: schedule.name, samples: N, results }, null, 1));
  const md = markdown(results);
  writeFileSync(`bench/out/solvers${quick ? "-quick" : ""}.md`, md);
  console.log(md);
  const plot = (metric: "energy" | "endpoint", title: string) => chart((document) => row(document, results.map((r) => {
    const names = [...new Set(r.points.filter((p) => p[metric] !== undefined).map((p) => p.sampler))];
    const lines = names.map((s) => {
      const pts = r.points.filter((p) => p.sampler === s).sort((a, b) => a.nfe - b.nfe);
      return { label: s, x: pts.map((p) => Math.log10(p.nfe)), y: pts.map((p) => p[metric]!), color: COLORS[s] };
    });
    if (metric === "energy") lines.push({ label: "data floor", x: [Math.log10(3), Math.log10(400)], y: [r.floor, r.floor], color: "#969696" });
    return lossPlot(lines, { title: `${r.name}: ${title}`, xLabel: "log10 NFE", width: 560, height: 420, smooth: 0, document });
  })));
  const dir = quick ? "bench/out" : "docs";
  const suffix = quick ? "-quick" : "";
  plot("energy", "energy distance").save(`${dir}/solvers-nfe${suffix}.png`);
  plot("endpoint", "PF-ODE endpoint error").save(`${dir}/solvers-endpoint${suffix}.png`);
  console.log(`wrote ${dir}/solvers-nfe${suffix}.png, ${dir}/solvers-endpoint${suffix}.png`);
}

const COLORS: Record<string, string> = {
  "generic r=0": "#1f77b4", "generic DDPM r": "#ff7f0e", "EM-SDE": "#2ca02c", "Euler ODE": "#d62728",
  "Heun ODE": "#9467bd", "DPM-Solver++(2M)": "#17becf", "RK45 ODE": "#8c564b",
};

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

function markdown(results: SetResult[]): string {
  const out: string[] = [];
  for (const r of results) {
    out.push(`**${r.name}** (${r.model}); energy distance to ${N} held-out points (floor, fresh data vs held-out, mean of 4: ${r.floor.toFixed(4)}); in brackets the median distance to the exact PF-ODE endpoint from the same x_1`, "");
    const settings = [...new Set(r.points.filter((p) => p.sampler !== "RK45 ODE").map((p) => p.setting))];
    out.push(`| sampler | ${settings.join(" | ")} |`, `| --- |${settings.map(() => " ---: |").join("")}`);
    for (const s of [...new Set(r.points.map((p) => p.sampler))].filter((s) => s !== "RK45 ODE")) {
      out.push(`| ${s} | ${settings.map((set) => { const p = r.points.find((q) => q.sampler === s && q.setting === set)!; const e = p.endpoint === undefined ? "" : ` [${p.endpoint.toExponential(1)}]`; return `${p.energy.toFixed(4)}${e}${s === "Heun ODE" ? ` (NFE ${p.nfe})` : ""}`; }).join(" | ")} |`);
    }
    out.push("", `RK45: ${r.points.filter((p) => p.sampler === "RK45 ODE").map((p) => `${p.setting}: NFE ${p.nfe}, ${p.energy.toFixed(4)} [${p.endpoint!.toExponential(1)}]`).join("; ")}`);
    if (r.bitsPerDim !== undefined) {
      out.push("", `PF-ODE NLL of held-out data: ${r.bitsPerDim.toFixed(3)} ± ${r.bitsPerDimStderr!.toFixed(3)} bits/dim${r.exactBitsPerDim !== undefined ? ` (closed form ${r.exactBitsPerDim.toFixed(3)})` : ""}, ${r.nllSeconds!.toFixed(0)} s`);
    }
    out.push("");
  }
  return out.join("\n");
}

await main();
