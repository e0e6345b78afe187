import { defineProcess, timeAt, type Process, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import type { RSchedule } from "../core/sampler.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { tensor, itemSize, type Tensor } from "../core/tensor.js";

/**
 * The Gaussian process x_t = a(t) x0 + b(t) eps (VP when a^2 + b^2 = 1, VE
 * when a = 1). Posterior noise is the point (x_t - a x0) / b; the kernel is
 * eps' = sqrt(1 - r^2) eps + r xi.
 */
export interface GaussianProcess extends Process<Tensor, Tensor> {
  readonly schedule: NoiseSchedule;
}

/** The shared Gaussian kernel: sqrt(1 - r^2) eps + r xi, leaves N(0, I) invariant. */
export function gaussianKernel(eps: Tensor, r: number, rng: Rng): Tensor {
  if (r === 0) return eps;
  const keep = Math.sqrt(1 - r * r);
  const out = new Float32Array(eps.data.length);
  for (let i = 0; i < out.length; i++) out[i] = keep * eps.data[i] + r * rng.normal();
  return tensor(eps.shape, out);
}

export function gaussianNoise(shape: readonly number[], rng: Rng): Tensor {
  return tensor(shape, rng.normals(shape.reduce((a, b) => a * b, 1)));
}

/**
 * out = c0(t) x + c1(t) y, row by row with each row's own t: the Gaussian
 * forward map, its inverse, and the x0/eps/v conversions are all this.
 */
export function rowwise(x: Tensor, y: Tensor, t: Time, coef: (t: number) => [number, number]): Tensor {
  if (x.data.length !== y.data.length) throw new Error(`rowwise: shapes [${x.shape}] and [${y.shape}] differ`);
  const d = itemSize(x);
  const out = new Float32Array(x.data.length);
  for (let row = 0; row < x.shape[0]; row++) {
    const [c0, c1] = coef(timeAt(t, row));
    for (let j = row * d; j < row * d + d; j++) out[j] = c0 * x.data[j] + c1 * y.data[j];
  }
  return tensor(x.shape, out);
}

export function gaussian(schedule: NoiseSchedule): GaussianProcess {
  const { a, b } = schedule;
  return {
    ...defineProcess<Tensor, Tensor>({
      name: `gaussian(${schedule.name})`,
      time: schedule.steps ? { kind: "discrete", steps: schedule.steps } : { kind: "continuous" },
      noise: gaussianNoise,
      forward: (x0, t, eps) => rowwise(x0, eps, t, (s) => [a(s), b(s)]),
      posteriorNoise: (x0, xt, t) => rowwise(xt, x0, t, (s) => [1 / b(s), -a(s) / b(s)]),
      kernel: gaussianKernel,
      // a(1) x0 is dropped: exact when a(1) = 0, otherwise pass the exact marginal as x1.
      prior: (shape, rng) => {
        const z = gaussianNoise(shape, rng);
        const b1 = b(1);
        return tensor(shape, z.data.map((v) => v * b1));
      },
    }),
    schedule,
  };
}

/**
 * Std of the DDPM posterior q(x_s | x_t, x0) for any a, b (VP or VE):
 * sigma = (b_s / b_t) sqrt(b_t^2 - (a_t b_s / a_s)^2).
 */
export function ddpmSigma(schedule: NoiseSchedule, t: number, s: number): number {
  const at = schedule.a(t), bt = schedule.b(t), as = schedule.a(s), bs = schedule.b(s);
  const bts2 = bt * bt - ((at * bs) / as) ** 2;
  return (bs / bt) * Math.sqrt(Math.max(0, bts2));
}

/** DDIM(eta): r = eta * sigma_t / b_s. eta = 0 is DDIM, eta = 1 is DDPM. */
export function ddimR(schedule: NoiseSchedule, eta: number): RSchedule {
  if (!(eta >= 0 && eta <= 1)) throw new Error(`ddim: eta must lie in [0, 1], got ${eta}`);
  return (t, s) => {
    const bs = schedule.b(s);
    return bs === 0 ? 0 : (eta * ddpmSigma(schedule, t, s)) / bs;
  };
}
