import type { Denoiser } from "../../src/core/denoiser.js";
import { makeGrid, type GridKind } from "../../src/core/grid.js";
import { Rng } from "../../src/core/rng.js";
import { sample, type RSchedule, type StepInfo } from "../../src/core/sampler.js";
import { noiseSchedule, type NoiseSchedule } from "../../src/core/schedule.js";
import type { Tensor } from "../../src/core/tensor.js";
import type { GaussianProcess } from "../../src/processes/gaussian.js";
import type { SolverResult } from "../../src/samplers/drift.js";
import { sampleDpmSolver2M } from "../../src/samplers/dpm-solver.js";
import { sampleEuler, sampleHeun, sampleRk45 } from "../../src/samplers/ode.js";
import { analyticDpm, applyPreset } from "../../src/samplers/presets.js";
import { sampleEulerMaruyama } from "../../src/samplers/sde.js";

/**
 * The 2-D panel's samplers: the one sampler with the r slider or a preset
 * (DDPM, DDIM, Analytic-DPM), and the continuous-time solvers of
 * src/samplers (names as in k-diffusion).
 */
export const methods = [
  ["generic", "one sampler, r slider"],
  ["ddpm", "preset: DDPM"],
  ["ddim", "preset: DDIM (eta = 0)"],
  ["analytic-dpm", "preset: Analytic-DPM"],
  ["euler", "PF-ODE: Euler"],
  ["heun", "PF-ODE: Heun"],
  ["rk45", "PF-ODE: RK45 (adaptive)"],
  ["euler-maruyama", "reverse SDE: Euler-Maruyama"],
  ["dpm-solver++", "DPM-Solver++(2M)"],
] as const;
export type Method = (typeof methods)[number][0];

export interface SampleRequest {
  method: Method;
  r: number;
  steps: number;
  grid: GridKind;
  n: number;
  seed: number;
  /** Every step of the one sampler (the solvers report none). */
  onStep?: (info: StepInfo<Tensor>) => void | Promise<void>;
}

export interface Drawn {
  x: Tensor;
  label: string;
  /** Model evaluations. */
  nfe: number;
}

export async function draw(process: GaussianProcess, denoiser: Denoiser, heldOut: Tensor, req: SampleRequest): Promise<Drawn> {
  const grid = makeGrid(req.grid, req.steps);
  const rng = new Rng(req.seed);
  const shape = [req.n, ...heldOut.shape.slice(1)];
  const generic = async (r: RSchedule, den: Denoiser, label: string): Promise<Drawn> => {
    const x = await sample({ process, denoiser: den, grid, r, rng, shape, onStep: req.onStep });
    return { x, label, nfe: req.steps };
  };
  switch (req.method) {
    case "generic":
      return generic(req.r, denoiser, `r = ${req.r}`);
    case "ddpm": {
      const p = applyPreset(process, { name: "ddpm" }, denoiser);
      return generic(p.r, p.denoiser, "DDPM");
    }
    case "ddim": {
      const p = applyPreset(process, { name: "ddim", eta: 0 }, denoiser);
      return generic(p.r, p.denoiser, "DDIM");
    }
    case "analytic-dpm": {
      const p = await analyticDpm(process, denoiser, heldOut, grid, rng.fork());
      return generic(p.r, p.denoiser, "Analytic-DPM");
    }
    default:
      return solve(process.schedule, denoiser, req, grid, rng, shape);
  }
}

/** Where a(1) = 0 (the cosine schedule) the drift is infinite at t = 1: solvers then start at T_START. */
const T_START = 0.99;

async function solve(schedule0: NoiseSchedule, denoiser0: Denoiser, req: SampleRequest, grid: number[], rng: Rng, shape: number[]): Promise<Drawn> {
  const squeeze = schedule0.a(1) < 1e-3 ? T_START : 1;
  // The solver's time u in [0, 1] is the model's time squeeze * u.
  const schedule = squeeze === 1 ? schedule0 : noiseSchedule(`${schedule0.name} on [0, ${squeeze}]`, (u) => schedule0.a(squeeze * u), (u) => schedule0.b(squeeze * u));
  const denoiser: Denoiser = squeeze === 1 ? denoiser0 : {
    sample: (x, u, r) => denoiser0.sample(x, squeeze * u, r),
    mean: (x, u) => denoiser0.mean!(x, squeeze * u),
  };
  const x1 = priorAt(schedule, shape, rng);
  const note = squeeze === 1 ? "" : ` from t = ${squeeze}`;
  let res: SolverResult;
  switch (req.method) {
    case "euler": res = await sampleEuler({ schedule, denoiser, grid, x1 }); break;
    case "heun": res = await sampleHeun({ schedule, denoiser, grid, x1 }); break;
    case "rk45": res = await sampleRk45({ schedule, denoiser, x1, rtol: 1e-3, atol: 1e-3, tEnd: 1e-3 }); break;
    case "euler-maruyama": res = await sampleEulerMaruyama({ schedule, denoiser, grid, x1, rng }); break;
    case "dpm-solver++": res = await sampleDpmSolver2M({ schedule, denoiser, grid, x1 }); break;
    default: throw new Error(`unknown sampling method ${req.method}`);
  }
  const name = methods.find((m) => m[0] === req.method)![1];
  return { x: res.x, label: `${name}${note}`, nfe: res.nfe };
}

/** x_1 ~ N(0, a(1)^2 + b(1)^2) per coordinate: the prior for unit-scale data. */
function priorAt(schedule: NoiseSchedule, shape: number[], rng: Rng): Tensor {
  const s = Math.hypot(schedule.a(1), schedule.b(1));
  const n = shape.reduce((a, b) => a * b, 1);
  return { shape, data: Float32Array.from({ length: n }, () => s * rng.normal()) };
}
