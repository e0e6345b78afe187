import { toSchedule, type Destruction, type Schedule } from "../core/schedule.js";
import type { Tensor } from "../core/tensor.js";
import { absorbing } from "./absorbing.js";
import { level, type TokenProcess } from "./tokens.js";

/**
 * Masking (absorbing) diffusion, DESIGN.md section 3 (the mechanics in absorbing.ts):
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
  const name = `masking(${schedule.name}, V=${V})`;
  // One level for the whole row.
  const levels = (t: number, L: number) => new Float64Array(L).fill(level((s) => schedule.m(s), t, name));
  return { name, time: { kind: "continuous" }, vocab: V, maskId: V, schedule, ...absorbing({ name, vocab: V, levels }) };
}
