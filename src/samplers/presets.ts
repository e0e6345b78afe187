import { pointMass, withSpread, type Denoiser } from "../core/denoiser.js";
import type { Rng } from "../core/rng.js";
import type { RSchedule } from "../core/sampler.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { itemSize, tensor, type Tensor } from "../core/tensor.js";
import { ddimR, type GaussianProcess } from "../processes/gaussian.js";

/**
 * The published Gaussian samplers as settings of the one sampler
 * (DESIGN.md section 3): each is a choice of r and of how x0_hat is drawn.
 */
export type GaussianPreset =
  | { name: "ddpm" }
  | { name: "ddim"; eta: number }
  | { name: "analytic-dpm"; sbar: (t: number) => number };

export function applyPreset(process: GaussianProcess, preset: GaussianPreset, denoiser: Denoiser): { r: RSchedule; denoiser: Denoiser } {
  // DDPM/DDIM use x0_hat = E[x0 | x_t] (a point mass) where the denoiser has a mean.
  const mean = denoiser.mean?.bind(denoiser);
  const meanOnly: Denoiser = mean ? pointMass(mean) : denoiser;
  switch (preset.name) {
    case "ddpm":
      return { r: ddimR(process.schedule, 1), denoiser: meanOnly };
    case "ddim":
      return { r: ddimR(process.schedule, preset.eta), denoiser: meanOnly };
    case "analytic-dpm":
      // Bao et al. 2022 with the DDPM variance family: x0_hat ~ N(G(x_t), sbar_t^2).
      return { r: ddimR(process.schedule, 1), denoiser: withSpread(denoiser, preset.sbar) };
  }
}

/**
 * Analytic-DPM's optimal spread of q(x0 | x_t):
 * sbar_t^2 = (b_t^2 / a_t^2) (1 - E||eps_hat(x_t)||^2 / d), with
 * eps_hat = (x_t - a_t E[x0 | x_t]) / b_t, estimated over `data` at each time
 * of `times`. Returns a lookup that refuses times it did not estimate.
 */
export async function estimateSbar(
  schedule: NoiseSchedule,
  mean: (xt: Tensor, t: number) => Promise<Tensor> | Tensor,
  data: Tensor,
  times: readonly number[],
  rng: Rng,
): Promise<{ sbar: (t: number) => number; table: Map<number, number> }> {
  const table = new Map<number, number>();
  const d = itemSize(data);
  const n = data.shape[0];
  for (const t of times) {
    if (t <= 0) continue;
    const a = schedule.a(t), b = schedule.b(t);
    const xt = new Float32Array(data.data.length);
    for (let i = 0; i < xt.length; i++) xt[i] = a * data.data[i] + b * rng.normal();
    const m = await mean(tensor(data.shape, xt), t);
    let sq = 0;
    for (let i = 0; i < xt.length; i++) {
      const e = (xt[i] - a * m.data[i]) / b;
      sq += e * e;
    }
    const ratio = Math.min(1, Math.max(0, 1 - sq / (n * d)));
    table.set(t, Math.sqrt((b * b) / (a * a) * ratio));
  }
  const sbar = (t: number) => {
    if (t <= 0) return 0;
    const v = table.get(t);
    if (v === undefined) throw new Error(`analytic-dpm: sbar was not estimated at t = ${t}; estimate it on the sampling grid`);
    return v;
  };
  return { sbar, table };
}

/**
 * Analytic-DPM ready to sample: sbar estimated on held-out `data` at the
 * times of `grid`, capped at the data's std, since E[Var(x0 | x_t)] <=
 * Var(x0) and near t = 1, where a -> 0, the estimate is (b/a)^2 times a
 * tiny difference and would explode. (The CLI and the playground use it.)
 */
export async function analyticDpm(process: GaussianProcess, denoiser: Denoiser, data: Tensor, grid: readonly number[], rng: Rng): Promise<{ r: RSchedule; denoiser: Denoiser }> {
  if (!denoiser.mean) throw new Error("analytic-dpm: the denoiser has no mean");
  const { sbar } = await estimateSbar(process.schedule, denoiser.mean.bind(denoiser), data, grid, rng);
  const cap = dataStd(data);
  return applyPreset(process, { name: "analytic-dpm", sbar: (t) => Math.min(sbar(t), cap) }, denoiser);
}

/** Root of the mean per-coordinate variance of rows x [N, ...]. */
export function dataStd(x: Tensor): number {
  const d = itemSize(x), n = x.shape[0];
  let total = 0;
  for (let j = 0; j < d; j++) {
    let m = 0, s = 0;
    for (let i = 0; i < n; i++) m += x.data[i * d + j] / n;
    for (let i = 0; i < n; i++) s += (x.data[i * d + j] - m) ** 2 / n;
    total += s / d;
  }
  return Math.sqrt(total);
}
