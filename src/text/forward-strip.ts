import { rowTokens } from "../core/padded.js";
import type { Process } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import { gatherBatch, type Tensor } from "../core/tensor.js";

/**
 * The forward process on text, as text: for each row of x0, x_t = F_t(x0, eps)
 * at the given times with ONE eps per row (so, under deletion, each line is
 * a subsequence of the one above). Rows of varying length are cut at their
 * first PAD when `pad` is given. Returns the lines to print.
 */
export function textStrip(process: Process<Tensor, unknown>, x0: Tensor, rng: Rng, opts: { times: readonly number[]; decode: (ids: ArrayLike<number>) => string; pad?: number }): string[] {
  const lines: string[] = [];
  const n = x0.shape[0];
  const eps = process.noise(x0.shape, rng);
  const width = Math.max(...opts.times.map((t) => t.toFixed(2).length));
  for (let b = 0; b < n; b++) {
    const row = gatherBatch(x0, [b]);
    const e = pick(eps, b, n);
    for (const t of opts.times) {
      const xt = process.forward(row, t, e);
      const ids = opts.pad === undefined ? xt.data : rowTokens(xt, 0, opts.pad);
      lines.push(`t = ${t.toFixed(2).padStart(width)} | ${opts.decode(ids).replace(/\n/g, "⏎")}`);
    }
    lines.push("");
  }
  return lines;
}

/** Row b of a noise value: a Tensor or an object of Tensors (batch first). */
function pick(eps: unknown, b: number, n: number): unknown {
  const isTensor = (v: unknown): v is Tensor => typeof v === "object" && v !== null && "shape" in v && "data" in v;
  if (isTensor(eps)) return eps.shape[0] === n ? gatherBatch(eps, [b]) : eps;
  return Object.fromEntries(Object.entries(eps as Record<string, unknown>).map(([k, v]) => [k, pick(v, b, n)]));
}
