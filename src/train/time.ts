import type { Process } from "../core/process.js";
import type { Rng } from "../core/rng.js";

/** How t is drawn for each training example. */
export type TimeSampler =
  /** Continuous: U(0, 1] (never exactly 0); discrete-time process: uniform on k/T, k = 1..T. */
  | "uniform"
  /**
   * The same law, low-discrepancy across the batch (MDLM's sampler): one
   * u ~ U[0, 1) per batch and row b gets the stratum (u + b/n) mod 1, so
   * every row's t is still uniform (a loss stays unbiased) but the batch
   * covers [0, 1] evenly, which cuts the variance of time-weighted losses.
   */
  | "stratified"
  /** Your own: return n times in (0, 1]. */
  | ((n: number, rng: Rng) => Float32Array);

/** The t distribution: U(0, 1] continuous, or uniform on k/T (k = 1..T) for a discrete-time process. */
export function timeSampler(time: TimeSampler, process: Pick<Process<any, any>, "time">): (n: number, rng: Rng) => Float32Array {
  if (typeof time === "function") {
    return (n, rng) => {
      const t = time(n, rng);
      if (!(t instanceof Float32Array) || t.length !== n) throw new Error(`train: the time function must return a Float32Array of ${n} times`);
      for (const x of t) if (!(x >= 0 && x <= 1)) throw new Error(`train: the time function returned t = ${x}, outside [0, 1]`);
      return t;
    };
  }
  if (time !== "uniform" && time !== "stratified") throw new Error(`train: time must be "uniform", "stratified" or a function, got ${JSON.stringify(time)}`);
  // Uniforms in [0, 1): independent, or one shift of an evenly spaced batch.
  const uniforms = (n: number, rng: Rng): number[] => {
    if (time === "uniform") return Array.from({ length: n }, () => rng.uniform());
    const u = rng.uniform();
    return Array.from({ length: n }, (_, b) => (u + b / n) % 1);
  };
  const dom = process.time;
  if (dom.kind === "discrete") {
    const T = dom.steps;
    return (n, rng) => Float32Array.from(uniforms(n, rng), (u) => (1 + Math.min(T - 1, Math.floor(u * T))) / T);
  }
  // 1 - U[0, 1) lies in (0, 1]: t = 0 carries no noise and nothing to learn.
  return (n, rng) => Float32Array.from(uniforms(n, rng), (u) => 1 - u);
}
