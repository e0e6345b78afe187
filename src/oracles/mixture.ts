import type { Denoiser } from "../core/denoiser.js";
import type { Rng } from "../core/rng.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";

/**
 * An isotropic Gaussian mixture sum_k w_k N(mu_k, s_k^2 I) in d dimensions:
 * a data distribution whose posterior under Gaussian noise is closed-form,
 * so it serves as the exact denoiser in tests (DESIGN.md "Exactness").
 */
export interface Mixture {
  weights: number[];
  means: number[][];
  stds: number[];
}

export function mixtureDim(m: Mixture): number {
  return m.means[0].length;
}

export function sampleMixture(m: Mixture, n: number, rng: Rng): Tensor {
  const d = mixtureDim(m);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const k = rng.categorical(m.weights);
    for (let j = 0; j < d; j++) out[i * d + j] = m.means[k][j] + m.stds[k] * rng.normal();
  }
  return tensor([n, d], out);
}

/** log N(x; mu, v I) in d dims. */
function logNormal(x: ArrayLike<number>, off: number, mu: number[], scale: number, v: number): number {
  let sq = 0;
  for (let j = 0; j < mu.length; j++) sq += (x[off + j] - scale * mu[j]) ** 2;
  return -0.5 * (sq / v + mu.length * Math.log(2 * Math.PI * v));
}

/** Log density of the mixture's marginal at time t: x_t ~ sum_k w_k N(a mu_k, (a^2 s_k^2 + b^2) I). */
export function mixtureLogDensity(m: Mixture, x: Tensor, a = 1, b = 0): Float64Array {
  const d = mixtureDim(m);
  const n = x.shape[0];
  const out = new Float64Array(n);
  const logs = new Array<number>(m.weights.length);
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let k = 0; k < logs.length; k++) {
      logs[k] = Math.log(m.weights[k]) + logNormal(x.data, i * d, m.means[k], a, a * a * m.stds[k] ** 2 + b * b);
      mx = Math.max(mx, logs[k]);
    }
    out[i] = mx + Math.log(logs.reduce((acc, l) => acc + Math.exp(l - mx), 0));
  }
  return out;
}

/**
 * Posterior of x0 given x_t = a x0 + b eps, row by row: a mixture with
 * responsibilities pi_k ~ w_k N(x_t; a mu_k, (a^2 s_k^2 + b^2) I) and
 * components N(m_k, v_k I), v_k = 1 / (1/s_k^2 + a^2/b^2),
 * m_k = v_k (mu_k / s_k^2 + a x_t / b^2).
 */
function posterior(m: Mixture, xt: Tensor, a: number, b: number, visit: (row: number, resp: number[], means: number[][], vars: number[]) => void) {
  const d = mixtureDim(m);
  const K = m.weights.length;
  for (let i = 0; i < xt.shape[0]; i++) {
    const logs = new Array<number>(K);
    let mx = -Infinity;
    for (let k = 0; k < K; k++) {
      logs[k] = Math.log(m.weights[k]) + logNormal(xt.data, i * d, m.means[k], a, a * a * m.stds[k] ** 2 + b * b);
      mx = Math.max(mx, logs[k]);
    }
    const resp = logs.map((l) => Math.exp(l - mx));
    const z = resp.reduce((x, y) => x + y, 0);
    const means: number[][] = [];
    const vars: number[] = [];
    for (let k = 0; k < K; k++) {
      resp[k] /= z;
      const s2 = m.stds[k] ** 2;
      const v = b === 0 ? 0 : 1 / (1 / s2 + (a * a) / (b * b));
      vars.push(v);
      means.push(m.means[k].map((mu, j) => (b === 0 ? xt.data[i * d + j] / a : v * (mu / s2 + (a * xt.data[i * d + j]) / (b * b)))));
    }
    visit(i, resp, means, vars);
  }
}

/** The exact q(x0 | x_t) of a mixture under a Gaussian schedule. */
export function mixtureDenoiser(m: Mixture, schedule: NoiseSchedule): Denoiser {
  const d = mixtureDim(m);
  return {
    mean(xt, t) {
      const out = new Float32Array(xt.data.length);
      posterior(m, xt, schedule.a(t), schedule.b(t), (i, resp, means) => {
        for (let j = 0; j < d; j++) out[i * d + j] = resp.reduce((acc, r, k) => acc + r * means[k][j], 0);
      });
      return tensor(xt.shape, out);
    },
    sample(xt, t, rng) {
      const out = new Float32Array(xt.data.length);
      posterior(m, xt, schedule.a(t), schedule.b(t), (i, resp, means, vars) => {
        const k = rng.categorical(resp);
        const sd = Math.sqrt(vars[k]);
        for (let j = 0; j < d; j++) out[i * d + j] = means[k][j] + sd * rng.normal();
      });
      return tensor(xt.shape, out);
    },
  };
}

/** A 2-D test mixture: three unequal, well separated blobs. */
export function testMixture2d(): Mixture {
  return {
    weights: [0.5, 0.3, 0.2],
    means: [[-2, 0], [1.5, 1.5], [1, -2]],
    stds: [0.3, 0.5, 0.25],
  };
}
