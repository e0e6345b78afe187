import type { Denoiser } from "../core/denoiser.js";
import type { Rng } from "../core/rng.js";
import type { NoiseSchedule, Schedule } from "../core/schedule.js";
import type { Tensor } from "../core/tensor.js";
import { sampleDpmSolver2M } from "../samplers/dpm-solver.js";
import { sampleEuler, sampleHeun, sampleRk45 } from "../samplers/ode.js";
import { sampleEulerMaruyama } from "../samplers/sde.js";

/**
 * `--sampler`: the one generic sampler (every process; its presets and --r)
 * or a continuous-time solver of the Gaussian process (probability-flow ODE
 * or reverse SDE, src/samplers/). Names follow k-diffusion where it has the
 * solver (sample_euler, sample_heun, sample_dpmpp_2m). A solver needs the
 * process's schedule to be a Gaussian NoiseSchedule (a(t), b(t)) and the
 * denoiser's mean E[x0 | x_t]; where it does not apply, the message says why.
 * To add one: a row in SOLVERS.
 */
export interface SolverRun {
  schedule: NoiseSchedule;
  denoiser: Denoiser;
  grid: readonly number[];
  x1: Tensor;
  rng: Rng;
  /** Tolerance of the adaptive solvers (--rtol). */
  rtol: number;
}

export interface SolverEntry {
  name: string;
  description: string;
  run(o: SolverRun): Promise<{ x: Tensor; nfe: number }>;
  /** Why the solver cannot run with this schedule, if it cannot. */
  refuse?(schedule: NoiseSchedule): string | undefined;
}

/** The generic sampler's name; it is not in SOLVERS (pipeline.ts runs it). */
export const GENERIC = "generic";

export const SOLVERS: readonly SolverEntry[] = [
  { name: "euler", description: "Euler on the probability-flow ODE (k-diffusion sample_euler)", run: (o) => sampleEuler(o) },
  { name: "heun", description: "Heun (2nd order) on the probability-flow ODE (k-diffusion sample_heun); 2 model calls per step", run: (o) => sampleHeun(o) },
  {
    name: "rk45",
    description: "adaptive Dormand-Prince RK45 on the probability-flow ODE to --rtol (--steps is not used)",
    run: (o) => sampleRk45({ ...o, rtol: o.rtol, atol: o.rtol }),
  },
  {
    name: "euler-maruyama",
    description: "Euler-Maruyama on the reverse SDE (stochastic; the generic ddpm preset is its exact-in-distribution form)",
    run: (o) => sampleEulerMaruyama(o),
    refuse: (s) =>
      s.a(1) > 1e-6
        ? undefined
        : `the reverse SDE's drift a'(t)/a(t) is infinite at t = 1 under the ${s.name} schedule (a(1) = 0): use a model trained with --schedule linear-beta, log-snr or ve, or --sampler euler, heun, rk45, dpm-solver++, or generic --preset ddpm (the same SDE, discretised exactly)`,
  },
  { name: "dpm-solver++", description: "DPM-Solver++(2M), the multistep data-prediction solver (k-diffusion sample_dpmpp_2m)", run: (o) => sampleDpmSolver2M(o) },
];

export const samplerNames = (): string[] => [GENERIC, ...SOLVERS.map((s) => s.name)];

export function findSolver(name: string): SolverEntry | undefined {
  return SOLVERS.find((s) => s.name === name);
}

/** A Gaussian noise schedule (what the ODE/SDE solvers integrate), or undefined. */
export function noiseScheduleOf(schedule: Schedule | undefined): NoiseSchedule | undefined {
  const s = schedule as Partial<NoiseSchedule> | undefined;
  return s && typeof s.a === "function" && typeof s.b === "function" ? (s as NoiseSchedule) : undefined;
}
