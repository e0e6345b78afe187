import type { Rng } from "./rng.js";
import type { Schedule } from "./schedule.js";
import type { Tensor } from "./tensor.js";

/**
 * Time, either one value shared by the whole batch or one value per batch
 * row (training draws a different t for every example).
 */
export type Time = number | Float32Array;

export function timeAt(t: Time, row: number): number {
  return typeof t === "number" ? t : t[row];
}

/** Continuous t in [0, 1], or the discrete grid t_k = k / steps. */
export type TimeDomain = { kind: "continuous" } | { kind: "discrete"; steps: number };

/**
 * A destruction process, DESIGN.md section 2: x_t = F_t(x0, eps) with all the
 * randomness in eps. A process is a plain value with these five functions;
 * the sampler, training and the CLI need nothing else.
 *
 * X is the data type (a Tensor of reals or token ids); E is the noise type.
 */
export interface Process<X = Tensor, E = Tensor> {
  readonly name: string;
  readonly time: TimeDomain;
  /**
   * How fast x0 is destroyed, where the process has one schedule: one shape
   * for every process (`schedule.m(t)` is the destruction level in [0, 1];
   * the Gaussian process's NoiseSchedule adds a(t) and b(t)).
   */
  readonly schedule?: Schedule;
  /** eps ~ q(eps) for a batch of data of this shape. */
  noise(shape: readonly number[], rng: Rng): E;
  /** F_t(x0, eps). */
  forward(x0: X, t: Time, eps: E): X;
  /** eps ~ q(eps | x0, x_t): the noise that would have turned x0 into x_t. */
  posteriorNoise(x0: X, xt: X, t: Time, rng: Rng): E;
  /** K_r: a Markov kernel leaving q(eps) invariant; r = 0 keeps eps, r = 1 redraws it. */
  kernel(eps: E, r: number, rng: Rng): E;
  /** x_1 for a batch of this shape (an approximation of p(x_1) unless the process says otherwise). */
  prior(shape: readonly number[], rng: Rng): X;
}

/** Build a process from its functions (a typed identity, for readability at call sites). */
export function defineProcess<X = Tensor, E = Tensor>(p: Process<X, E>): Process<X, E> {
  return p;
}

/**
 * The exact marginal p(x_1): F_1 of random data rows. Use it as the prior
 * where the schedule does not reach pure noise at t = 1 (blur keeps the mean
 * colour), or in exactness tests so they measure the sampler, not the prior.
 */
export function marginalPrior<X, E>(
  process: Pick<Process<X, E>, "noise" | "forward">,
  drawData: (n: number, rng: Rng) => X,
  shapeOf: (x: X) => readonly number[],
): (shape: readonly number[], rng: Rng) => X {
  return (shape, rng) => {
    const x0 = drawData(shape[0], rng);
    return process.forward(x0, 1, process.noise(shapeOf(x0), rng));
  };
}
