import { timeAt, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { uniformKernel, uniformNoise } from "./kernels.js";
import { checkIds, seqShape, uniformIn, type TokenProcess } from "./tokens.js";

/** The parts of a token process that absorbing() fills in. */
export type AbsorbingParts = Pick<TokenProcess<Tensor>, "noise" | "forward" | "posteriorNoise" | "kernel" | "prior" | "changedRange" | "likelihood">;

/**
 * The mechanics every absorbing process shares (DESIGN.md section 3):
 * eps = u in [0, 1]^L, and position i of a row is [MASK] = V iff
 * u_i < m_i(t), where m_i(t) is the row's level at position i: one level
 * for the whole row in masking.ts, one per block in block.ts. Posterior
 * noise: u_i ~ U[0, m_i) where x_t is masked, U[m_i, 1) where it is
 * visible; kernel: each u_i redrawn with probability r; prior: all [MASK].
 *
 * `levels(t, L)` gives the L levels in [0, 1] at time t; `length`, when
 * given, is the only sequence length the process accepts.
 */
export function absorbing(opts: { name: string; vocab: number; levels: (t: number, L: number) => ArrayLike<number>; length?: number }): AbsorbingParts {
  const { name, vocab: V, levels } = opts;
  const MASK = V;
  // m >= 1 destroys everything even if a float32 u rounded up to 1.
  const masked = (u: number, m: number) => u < m || m >= 1;
  const rowsOf = (where: string, x: { shape: readonly number[] }): [number, number] => {
    const [rows, L] = seqShape(`${name}.${where}`, x);
    if (opts.length !== undefined && L !== opts.length) throw new Error(`${name}.${where}: sequences have length ${L}, this process was built for length ${opts.length}`);
    return [rows, L];
  };

  return {
    noise: uniformNoise,
    forward(x0: Tensor, t: Time, u: Tensor): Tensor {
      const [rows, L] = rowsOf("forward", x0);
      checkIds(`${name}.forward x0`, x0, V);
      const out = new Float32Array(rows * L);
      for (let r = 0; r < rows; r++) {
        const m = levels(timeAt(t, r), L);
        for (let i = 0; i < L; i++) out[r * L + i] = masked(u.data[r * L + i], m[i]) ? MASK : x0.data[r * L + i];
      }
      return tensor(x0.shape, out);
    },
    posteriorNoise(x0: Tensor, xt: Tensor, t: Time, rng: Rng): Tensor {
      const [rows, L] = rowsOf("posteriorNoise", xt);
      const u = new Float32Array(rows * L);
      for (let r = 0; r < rows; r++) {
        const m = levels(timeAt(t, r), L);
        for (let i = 0; i < L; i++) {
          const j = r * L + i;
          const at = `row ${r} position ${i} is`;
          if (xt.data[j] === MASK) {
            if (m[i] <= 0) throw new Error(`${name}.posteriorNoise: ${at} masked at t = ${timeAt(t, r)}, where its level m = 0 (nothing is masked)`);
            u[j] = uniformIn(0, m[i], rng);
          } else {
            if (xt.data[j] !== x0.data[j]) throw new Error(`${name}.posteriorNoise: ${at} visible in x_t (${xt.data[j]}) but x0 has ${x0.data[j]}; a masking denoiser must keep visible tokens`);
            if (m[i] >= 1) throw new Error(`${name}.posteriorNoise: ${at} visible at t = ${timeAt(t, r)}, where its level m = 1 (everything is masked)`);
            u[j] = uniformIn(m[i], 1, rng);
          }
        }
      }
      return tensor(xt.shape, u);
    },
    kernel: uniformKernel,
    prior(shape: readonly number[], _rng: Rng): Tensor {
      const [rows, L] = rowsOf("prior", { shape });
      return tensor(shape, new Float32Array(rows * L).fill(MASK));
    },
    // Masked positions always differ from x0, visible ones never: any count.
    changedRange: (_t, L) => [0, L],
    likelihood(x0, xt, t) {
      const m = levels(t, x0.length);
      let p = 1;
      for (let i = 0; i < x0.length; i++) p *= xt[i] === MASK ? m[i] : xt[i] === x0[i] ? 1 - m[i] : 0;
      return p;
    },
  };
}
