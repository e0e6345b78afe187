/**
 * Noise schedules for the Gaussian process, as functions of continuous t in
 * [0, 1]: x_t = a(t) x0 + b(t) eps. VP schedules have a^2 + b^2 = 1 (a^2 is
 * diffusers' alphas_cumprod); VE schedules have a = 1.
 * Also the destruction schedules m(t) in [0, 1] used by masking/replacement.
 */
export interface NoiseSchedule {
  readonly name: string;
  /** Signal scale a(t). */
  a(t: number): number;
  /** Noise scale b(t). */
  b(t: number): number;
  /** Discrete-time schedules declare their grid size. */
  readonly steps?: number;
}

const vp = (name: string, alpha2: (t: number) => number, steps?: number): NoiseSchedule => ({
  name,
  steps,
  a: (t) => Math.sqrt(alpha2(t)),
  b: (t) => Math.sqrt(Math.max(0, 1 - alpha2(t))),
});

/**
 * DDPM (Ho et al. 2020): beta_k linear from 1e-4 to 0.02 over T = 1000 steps,
 * alphas_cumprod_k = prod_{i<=k} (1 - beta_i) at t = k / T. Between grid
 * points log alphas_cumprod is interpolated linearly, so it is a function of
 * continuous t that equals the discrete schedule exactly on the grid.
 */
export function linearBeta(T = 1000, beta0 = 1e-4, beta1 = 0.02): NoiseSchedule {
  const logAc = new Float64Array(T + 1);
  for (let k = 1; k <= T; k++) {
    const beta = T === 1 ? beta0 : beta0 + ((beta1 - beta0) * (k - 1)) / (T - 1);
    logAc[k] = logAc[k - 1] + Math.log(1 - beta);
  }
  return vp(`linear-beta(T=${T})`, (t) => {
    const x = Math.min(Math.max(t, 0), 1) * T;
    const k = Math.min(Math.floor(x), T - 1);
    const f = x - k;
    return Math.exp(logAc[k] * (1 - f) + logAc[k + 1] * f);
  }, T);
}

/** Cosine schedule (Nichol & Dhariwal 2021), alpha-bar clipped so beta <= 0.999 is never needed at t = 1. */
export function cosine(s = 0.008): NoiseSchedule {
  const f = (t: number) => Math.cos(((t + s) / (1 + s)) * (Math.PI / 2)) ** 2;
  const f0 = f(0);
  return vp("cosine", (t) => Math.min(1, Math.max(f(Math.min(Math.max(t, 0), 1)) / f0, 0)));
}

/**
 * Linear in log-SNR: lambda(t) = log(a^2 / b^2) goes linearly from
 * lambdaMax at t = 0 to lambdaMin at t = 1; a^2 = sigmoid(lambda).
 * At t = 0 the data is kept exactly (a = 1, b = 0) so samples end on x0_hat.
 */
export function logSnrLinear(lambdaMax = 10, lambdaMin = -10): NoiseSchedule {
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
  return vp("log-snr-linear", (t) => (t <= 0 ? 1 : sigmoid(lambdaMax + (lambdaMin - lambdaMax) * t)));
}

/** Variance exploding (Song et al.): a = 1, b = sigma_min (sigma_max / sigma_min)^t, and b(0) = 0. */
export function varianceExploding(sigmaMin = 0.01, sigmaMax = 10): NoiseSchedule {
  return {
    name: "ve",
    a: () => 1,
    b: (t) => (t <= 0 ? 0 : sigmaMin * (sigmaMax / sigmaMin) ** t),
  };
}

export type ScheduleName = "linear-beta" | "cosine" | "log-snr" | "ve";

export function scheduleByName(name: ScheduleName): NoiseSchedule {
  switch (name) {
    case "linear-beta":
      return linearBeta();
    case "cosine":
      return cosine();
    case "log-snr":
      return logSnrLinear();
    case "ve":
      return varianceExploding();
  }
}

/** Destruction schedules m(t), increasing from 0 to 1, for masking and replacement. */
export type Destruction = (t: number) => number;

export const destruction = {
  linear: (): Destruction => (t) => Math.min(Math.max(t, 0), 1),
  cosine: (): Destruction => (t) => 1 - Math.cos((Math.min(Math.max(t, 0), 1) * Math.PI) / 2),
  /**
   * MDLM's log-linear: total noise sigma(t) = -log(1 - (1 - eps) t), so
   * m(t) = 1 - exp(-sigma(t)) = (1 - eps) t; eps keeps m(1) < 1.
   */
  logLinear: (eps = 1e-3): Destruction => (t) => -Math.expm1(Math.log1p(-(1 - eps) * Math.min(Math.max(t, 0), 1))),
};
