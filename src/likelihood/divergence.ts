import type { Rng } from "../core/rng.js";

/**
 * Traces of the Jacobian of a batched map m: R^d -> R^d (row by row), the
 * part of the PF-ODE divergence that needs the model. Both use central
 * finite differences, so they work for any Denoiser (oracle or network):
 * - exact:      tr J = sum_j (m(x + h e_j) - m(x - h e_j))_j / 2h,  2 d evaluations;
 * - Hutchinson: tr J = E_z[z^T J z] ~ mean_k z_k^T (m(x + h z_k) - m(x - h z_k)) / 2h,
 *   2 K evaluations, unbiased up to the O(h^2) difference error, for z with
 *   E[z z^T] = I (Rademacher: lower variance; Gaussian).
 * All perturbed copies go to the model as ONE batch, so a network runs one
 * forward pass per trace.
 */

/** A batched map on flat rows: n rows of d values in, n rows of d values out. */
export type BatchMap = (x: Float64Array, rows: number) => Promise<ArrayLike<number>>;

/**
 * Difference step. The model returns float32 (round-off ~1e-7 |m|), so the
 * error of a central difference is ~1e-7 / h + h^2 |m'''|: h = 1e-3 keeps
 * both near 1e-4 for data of unit scale.
 */
export const DEFAULT_FD_STEP = 1e-3;

/** Perturbed copies per model call stay under this many values (memory bound for large d). */
const MAX_BATCH_VALUES = 1 << 22;

/** Exact trace of the Jacobian of m at each of the n rows of x (d columns), coordinates in chunks. */
export async function exactTrace(m: BatchMap, x: Float64Array, n: number, d: number, h = DEFAULT_FD_STEP): Promise<Float64Array> {
  if (!(h > 0)) throw new Error(`divergence: the difference step must be positive, got ${h}`);
  const size = n * d;
  const chunk = Math.max(1, Math.min(d, Math.floor(MAX_BATCH_VALUES / (2 * size))));
  const tr = new Float64Array(n);
  for (let j0 = 0; j0 < d; j0 += chunk) {
    const cols = Math.min(chunk, d - j0);
    // Copy 2c is x + h e_{j0+c}, copy 2c+1 is x - h e_{j0+c}.
    const batch = new Float64Array(2 * cols * size);
    for (let c = 0; c < 2 * cols; c++) batch.set(x, c * size);
    for (let c = 0; c < cols; c++) {
      for (let i = 0; i < n; i++) {
        batch[2 * c * size + i * d + j0 + c] += h;
        batch[(2 * c + 1) * size + i * d + j0 + c] -= h;
      }
    }
    const out = await m(batch, 2 * cols * n);
    for (let c = 0; c < cols; c++) {
      for (let i = 0; i < n; i++) {
        const k = i * d + j0 + c;
        tr[i] += (out[2 * c * size + k] - out[(2 * c + 1) * size + k]) / (2 * h);
      }
    }
  }
  return tr;
}

export type ProbeKind = "rademacher" | "gaussian";

/** Draw K probe vectors (each n x d) with E[z z^T] = I. Keep them fixed over an ODE solve. */
export function drawProbes(n: number, d: number, count: number, kind: ProbeKind, rng: Rng): Float64Array[] {
  if (!(Number.isInteger(count) && count >= 1)) throw new Error(`hutchinson: probes must be a positive integer, got ${count}`);
  return Array.from({ length: count }, () =>
    Float64Array.from({ length: n * d }, () => (kind === "gaussian" ? rng.normal() : rng.uniform() < 0.5 ? -1 : 1)));
}

/** Hutchinson estimate of the trace with the given probes. */
export async function hutchinsonTrace(m: BatchMap, x: Float64Array, n: number, d: number, probes: Float64Array[], h = DEFAULT_FD_STEP): Promise<Float64Array> {
  const sum = await directionalTrace(m, x, n, d, probes, h);
  return sum.map((v) => v / probes.length);
}

/** sum_k z_k^T J z_k per row, with every x +- h z_k in one batch. */
async function directionalTrace(m: BatchMap, x: Float64Array, n: number, d: number, probes: Float64Array[], h: number): Promise<Float64Array> {
  if (!(h > 0)) throw new Error(`divergence: the difference step must be positive, got ${h}`);
  const K = probes.length, size = n * d;
  const batch = new Float64Array(2 * K * size);
  probes.forEach((z, k) => {
    for (let i = 0; i < size; i++) {
      batch[2 * k * size + i] = x[i] + h * z[i];
      batch[(2 * k + 1) * size + i] = x[i] - h * z[i];
    }
  });
  const out = await m(batch, 2 * K * n);
  const tr = new Float64Array(n);
  probes.forEach((z, k) => {
    const plus = 2 * k * size, minus = (2 * k + 1) * size;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = i * d; j < i * d + d; j++) s += z[j] * (out[plus + j] - out[minus + j]);
      tr[i] += s / (2 * h);
    }
  });
  return tr;
}
