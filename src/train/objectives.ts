import type { Time } from "../core/process.js";
import type { NoiseSchedule } from "../core/schedule.js";
import type { Tensor } from "../core/tensor.js";
import { rowwise, type GaussianProcess } from "../processes/gaussian.js";
import type { Objective } from "./types.js";

/**
 * What the network predicts for the Gaussian process x_t = a x0 + b eps:
 *   'x0':  x0 itself
 *   'eps': the noise eps                    (DDPM)
 *   'v':   v = a eps - b x0                 (Salimans & Ho 2022)
 * All three are the SAME Gaussian model q(x0 | x_t) = N(x0_hat, s_t^2 I):
 * given x_t, each output determines x0_hat (see `toX0`), and the MSE on the
 * target is a reweighted MSE on x0:
 *   ||eps - eps_hat||^2 = (a^2 / b^2)            ||x0 - x0_hat||^2   (w = SNR)
 *   ||v - v_hat||^2     = ((a^2 + b^2)^2 / b^2)  ||x0 - x0_hat||^2   (w = 1 + SNR for VP)
 * so a parameterisation is a choice of the weight w(t) in DESIGN.md section 1.
 *
 * Numerics: 'eps' divides by a(t), so where a(t) -> 0 (cosine at t = 1, a
 * pure-noise start) a small error in eps_hat becomes a huge x0_hat. Use 'v'
 * or 'x0' there, or clip x0_hat to the data range (networkDenoiser's `clip`,
 * as DDPM does for images in [-1, 1]).
 */
export type Parameterization = "x0" | "eps" | "v";

export const parameterizations: readonly Parameterization[] = ["x0", "eps", "v"];

export interface GaussianObjective extends Objective<Tensor, Tensor> {
  readonly parameterization: Parameterization;
  /** JSON description for checkpoints. */
  readonly description: Record<string, unknown>;
  /** Convert the network output to x0_hat given x_t and t (one t or one per row). */
  toX0(out: Tensor, xt: Tensor, t: Time): Tensor;
}

export function checkParameterization(p: string): Parameterization {
  if (!(parameterizations as readonly string[]).includes(p)) {
    throw new Error(`parameterization must be one of ${parameterizations.join(", ")}, got "${p}"`);
  }
  return p as Parameterization;
}

/**
 * Target for the network (mse loss, unit weight: the weight is implied by the
 * parameterisation, see above) and its inverse.
 * v works for VP and VE alike: from x_t = a x0 + b eps and v = a eps - b x0,
 * x0 = (a x_t - b v) / (a^2 + b^2) (= a x_t - b v for VP).
 */
export function gaussianObjective(process: GaussianProcess | NoiseSchedule, parameterization: Parameterization): GaussianObjective {
  const schedule: NoiseSchedule = "schedule" in process ? process.schedule : process;
  const param = checkParameterization(parameterization);
  const { a, b } = schedule;
  return {
    loss: "mse",
    parameterization: param,
    description: { kind: "gaussian", parameterization: param, schedule: schedule.name },
    target(x0, _xt, t, eps) {
      if (param === "x0") return { target: x0 };
      if (param === "eps") return { target: eps };
      return { target: rowwise(eps, x0, t, (tr) => [a(tr), -b(tr)]) };
    },
    toX0(out, xt, t) {
      if (param === "x0") return out;
      if (param === "eps") {
        // x0 = (x_t - b eps) / a. Where a -> 0 eps says almost nothing about x0: clip downstream.
        return rowwise(xt, out, t, (tr) => [1 / a(tr), -b(tr) / a(tr)]);
      }
      return rowwise(xt, out, t, (tr) => {
        const at = a(tr), bt = b(tr), n = at * at + bt * bt;
        return [at / n, -bt / n];
      });
    },
  };
}
