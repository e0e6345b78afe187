import type { Process } from "../core/process.js";
import type { Rng } from "../core/rng.js";

/** How t is drawn for each training example. */
export type TimeSampler =
  /** Continuous: U(0, 1] (never exactly 0); discrete-time process: uniform on k/T, k = 1..T. */
  | "uniform"
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
  const dom = process.time;
  if (dom.kind === "discrete") {
    const T = dom.steps;
    return (n, rng) => {
      const t = new Float32Array(n);
      for (let i = 0; i < n; i++) t[i] = (1 + rng.int(T)) / T;
      return t;
    };
  }
  // 1 - U[0, 1) lies in (0, 1]: t = 0 carries no noise and nothing to learn.
  return (n, rng) => {
    const t = new Float32Array(n);
    for (let i = 0; i < n; i++) t[i] = 1 - rng.uniform();
    return t;
  };
}
