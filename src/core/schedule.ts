/**
 * Schedules: how fast a process destroys x0 as t goes from 0 to 1.
 *
 * Every process that has a schedule exposes it as `process.schedule`, with
 * ONE shape (`Schedule`): a name and the destruction level m(t) in [0, 1]
 * (0: x0 intact; increasing in t). Token and pixel masking hide each
 * position with probability m(t); the Gaussian schedules (`NoiseSchedule`)
 * add their signal and noise scales a(t), b(t) and have
 * m(t) = b^2 / (a^2 + b^2) = 1 / (1 + SNR(t)), the share of x_t's variance
 * that is noise (b^2 for VP).
 */
export interface Schedule {
  readonly name: string;
  /** Destruction level m(t) in [0, 1], increasing from m(0) = 0. */
  m(t: number): number;
  /** Discrete-time schedules declare their grid size T (times k / T). */
  readonly steps?: number;
}

/**
 * Noise schedules of the Gaussian process, x_t = a(t) x0 + b(t) eps, as
 * functions of continuous t from 0 to 1. VP schedules have a^2 + b^2 = 1 (a^2 is
 * diffusers' alphas_cumprod); VE schedules have a = 1.
 */
export interface NoiseSchedule extends Schedule {
  /** Signal scale a(t). */
  a(t: number): number;
  /** Noise scale b(t). */
  b(t: number): number;
}

/** A Gaussian schedule from a and b; m(t) = b^2 / (a^2 + b^2). */
export function noiseSchedule(name: string, a: (t: number) => number, b: (t: number) => number, steps?: number): NoiseSchedule {
  const m = (t: number) => {
    const a2 = a(t) ** 2, b2 = b(t) ** 2;
    return b2 === 0 ? 0 : b2 / (a2 + b2);
  };
  return steps === undefined ? { name, a, b, m } : { name, a, b, m, steps };
}

const vp = (name: string, alpha2: (t: number) => number, steps?: number): NoiseSchedule =>
  noiseSchedule(name, (t) => Math.sqrt(alpha2(t)), (t) => Math.sqrt(Math.max(0, 1 - alpha2(t))), steps);

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
  return noiseSchedule("ve", () => 1, (t) => (t <= 0 ? 0 : sigmaMin * (sigmaMax / sigmaMin) ** t));
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

/** A destruction level as a plain function m(t) (what the process options also accept). */
export type Destruction = (t: number) => number;

const clamp01 = (t: number) => Math.min(Math.max(t, 0), 1);

/** The destruction schedules of masking and replacement, as `Schedule`s. */
export const destruction = {
  linear: (): Schedule => ({ name: "linear", m: clamp01 }),
  cosine: (): Schedule => ({ name: "cosine", m: (t) => 1 - Math.cos((clamp01(t) * Math.PI) / 2) }),
  /**
   * MDLM's log-linear: total noise sigma(t) = -log(1 - (1 - eps) t), so
   * m(t) = 1 - exp(-sigma(t)) = (1 - eps) t; eps keeps m(1) < 1.
   */
  logLinear: (eps = 1e-3): Schedule => ({ name: "log-linear", m: (t) => -Math.expm1(Math.log1p(-(1 - eps) * clamp01(t))) }),
};

/**
 * A process option `schedule` as a Schedule: a Schedule is kept, a bare
 * function m(t) is named `name` (default "custom"); absent is linear.
 */
export function toSchedule(s: Schedule | Destruction | undefined, name?: string): Schedule {
  if (s === undefined) return destruction.linear();
  if (typeof s === "function") return { name: name ?? "custom", m: s };
  return name === undefined || name === s.name ? s : { ...s, name };
}
