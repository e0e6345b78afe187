import type { Rng } from "./rng.js";
import type { Tensor } from "./tensor.js";

/**
 * q(x0 | x_t): the learned (or exact) reverse model. `sample` draws x0_hat,
 * which is all the sampler needs; `mean` is E[x0 | x_t] where it exists
 * (real data), used by ODE solvers and the Analytic-DPM estimator.
 * `t` is one time for the whole batch.
 */
export interface Denoiser<X = Tensor> {
  sample(xt: X, t: number, rng: Rng): Promise<X> | X;
  mean?(xt: X, t: number): Promise<X> | X;
}

/** A point-mass denoiser: x0_hat = mean (DDPM/DDIM use this). */
export function pointMass(mean: (xt: Tensor, t: number) => Promise<Tensor> | Tensor): Denoiser {
  return { mean, sample: (xt, t) => mean(xt, t) };
}

/**
 * Gaussian q(x0 | x_t) = N(mean, sbar(t)^2 I): x0_hat = mean + sbar(t) z.
 * Analytic-DPM is this with its estimated sbar_t.
 */
export function withSpread(base: Denoiser, sbar: (t: number) => number): Denoiser {
  if (!base.mean) throw new Error("withSpread: the denoiser has no mean");
  const mean = base.mean.bind(base);
  return {
    mean,
    async sample(xt, t, rng) {
      const m = await mean(xt, t);
      const s = sbar(t);
      const out = new Float32Array(m.data.length);
      for (let i = 0; i < out.length; i++) out[i] = m.data[i] + s * rng.normal();
      return { shape: m.shape, data: out };
    },
  };
}
