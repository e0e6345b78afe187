import { timeAt, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import { toSchedule, type Destruction, type Schedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { uniformKernel, uniformNoise } from "./kernels.js";
import { checkIds, level, seqShape, uniformIn, type TokenProcess } from "./tokens.js";

/**
 * Masking (absorbing) diffusion, DESIGN.md section 3:
 *   eps = u in [0, 1]^L,   x_t,i = [MASK] if u_i < m(t), else x0,i.
 * Posterior noise: u_i ~ U[0, m(t)) where x_t is masked, U[m(t), 1) where it
 * is visible. Kernel: each u_i redrawn with probability r. Prior: all [MASK]
 * (exact when m(1) = 1; MDLM's log-linear stops at m(1) = 1 - 1e-3).
 *
 * With r = 0 a masked token is revealed between t and s exactly when
 * m(s) <= u_i < m(t), probability (m(t) - m(s)) / m(t): the MDLM / D3PM
 * absorbing sampler. With r = 1 every step re-masks from scratch.
 */
export interface MaskingProcess extends TokenProcess<Tensor> {
  readonly schedule: Schedule;
  readonly maskId: number;
}

export interface MaskingOptions {
  /** Vocabulary size V; [MASK] gets id V. */
  vocab: number;
  /** m(t): a Schedule (`destruction.cosine()`) or a bare function; default linear. */
  schedule?: Schedule | Destruction;
  /** Name of the schedule, for messages and checkpoints (default: the Schedule's name). */
  scheduleName?: string;
}

export function masking(opts: MaskingOptions): MaskingProcess {
  const V = opts.vocab;
  if (!(Number.isInteger(V) && V >= 1)) throw new Error(`masking: vocab must be a positive integer, got ${V}`);
  const schedule = toSchedule(opts.schedule, opts.scheduleName);
  const m = (t: number) => schedule.m(t);
  const MASK = V;
  const name = `masking(${schedule.name}, V=${V})`;
  // m >= 1 destroys everything even if a float32 u rounded up to 1.
  const masked = (u: number, mt: number) => u < mt || mt >= 1;

  return {
    name,
    time: { kind: "continuous" },
    vocab: V,
    maskId: MASK,
    schedule,
    noise: uniformNoise,
    forward(x0: Tensor, t: Time, u: Tensor): Tensor {
      const [B, L] = seqShape(`${name}.forward`, x0);
      checkIds(`${name}.forward x0`, x0, V);
      const out = new Float32Array(B * L);
      for (let b = 0; b < B; b++) {
        const mt = level(m, timeAt(t, b), name);
        for (let i = b * L; i < b * L + L; i++) out[i] = masked(u.data[i], mt) ? MASK : x0.data[i];
      }
      return tensor(x0.shape, out);
    },
    posteriorNoise(x0: Tensor, xt: Tensor, t: Time, rng: Rng): Tensor {
      const [B, L] = seqShape(`${name}.posteriorNoise`, xt);
      const u = new Float32Array(B * L);
      for (let b = 0; b < B; b++) {
        const mt = level(m, timeAt(t, b), name);
        for (let i = b * L; i < b * L + L; i++) {
          if (xt.data[i] === MASK) {
            if (mt <= 0) throw new Error(`${name}.posteriorNoise: row ${b} position ${i - b * L} is masked at t = ${timeAt(t, b)} where m(t) = 0`);
            u[i] = uniformIn(0, mt, rng);
          } else {
            if (xt.data[i] !== x0.data[i]) {
              throw new Error(`${name}.posteriorNoise: row ${b} position ${i - b * L} is visible in x_t (${xt.data[i]}) but x0 has ${x0.data[i]}; a masking denoiser must keep visible tokens`);
            }
            if (mt >= 1) throw new Error(`${name}.posteriorNoise: row ${b} position ${i - b * L} is visible at t = ${timeAt(t, b)} where m(t) = 1`);
            u[i] = uniformIn(mt, 1, rng);
          }
        }
      }
      return tensor(xt.shape, u);
    },
    kernel: uniformKernel,
    prior(shape: readonly number[], _rng: Rng): Tensor {
      seqShape(`${name}.prior`, { shape });
      return tensor(shape, new Float32Array(shape[0] * shape[1]).fill(MASK));
    },
    // Masked positions always differ from x0, visible ones never: any count.
    changedRange: (_t, L) => [0, L],
    likelihood(x0, xt, t) {
      const mt = level(m, t, name);
      let p = 1;
      for (let i = 0; i < x0.length; i++) p *= xt[i] === MASK ? mt : xt[i] === x0[i] ? 1 - mt : 0;
      return p;
    },
  };
}
