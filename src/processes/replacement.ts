import { timeAt, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import { toSchedule, type Destruction, type Schedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { checkIds, level, seqShape, uniformIn, type TokenProcess } from "./tokens.js";

/**
 * Replacement diffusion, DESIGN.md section 3: eps = (u, k) with u in [0,1]^L
 * and k an integer per position;
 *   x_t,i = token(x0,i, k_i) if u_i < m(t), else x0,i.
 *
 * How k becomes a token, and why:
 * - "uniform": token = k, k uniform on 0..V-1 (possibly x0,i itself).
 * - "different": token = (x0,i + k) mod V, k uniform on 1..V-1, so the new
 *   token is uniform over the vocabulary minus x0,i. Storing the OFFSET k
 *   rather than the token keeps q(eps) independent of x0: the kernel can then
 *   redraw eps without knowing x0, and F_s(x0_hat, eps') stays valid for any
 *   x0_hat (an absolute token drawn to differ from x0 might equal x0_hat).
 *
 * Posterior noise, per position (m = m(t)):
 * - x_t,i != x0,i: it was replaced: u ~ U[0, m), k = the k that gives x_t,i.
 * - x_t,i == x0,i, "uniform": kept (u ~ U[m, 1), k ~ uniform) with weight
 *   1 - m, or replaced by itself (u ~ U[0, m), k = x0,i) with weight m / V.
 * - x_t,i == x0,i, "different": kept for sure.
 * Kernel: each pair (u_i, k_i) redrawn with probability r. Prior: uniform
 * tokens (exact for "uniform" when m(1) = 1; for "different", p(x_1) depends
 * on the data, so exactness tests start from the exact marginal).
 */
export type ReplacementVariant = "uniform" | "different";

/** Noise of the replacement processes: uniforms u and integer codes k, both [B, L]. */
export interface ReplacementNoise {
  u: Tensor;
  k: Tensor;
}

export interface ReplacementProcess extends TokenProcess<ReplacementNoise> {
  readonly variant: ReplacementVariant;
  readonly schedule: Schedule;
  /** The token that code k puts in place of x0 (shared with the counted form). */
  token(x0: number, k: number): number;
  /** The code k that turns x0 into the different token xt. */
  codeOf(x0: number, xt: number): number;
  /** A fresh code k. */
  drawCode(rng: Rng): number;
}

export interface ReplacementOptions {
  vocab: number;
  variant?: ReplacementVariant;
  /** m(t): a Schedule or a bare function (default linear). */
  schedule?: Schedule | Destruction;
  scheduleName?: string;
}

/** token / codeOf / drawCode for a variant: the part shared with counted.ts. */
export function replacementCodes(V: number, variant: ReplacementVariant) {
  if (!(Number.isInteger(V) && V >= 2)) throw new Error(`replacement: vocab must be an integer >= 2, got ${V}`);
  if (variant !== "uniform" && variant !== "different") throw new Error(`replacement: variant must be "uniform" or "different", got "${variant}"`);
  return variant === "uniform"
    ? { token: (_x0: number, k: number) => k, codeOf: (_x0: number, xt: number) => xt, drawCode: (rng: Rng) => rng.int(V) }
    : { token: (x0: number, k: number) => (x0 + k) % V, codeOf: (x0: number, xt: number) => (xt - x0 + V) % V, drawCode: (rng: Rng) => 1 + rng.int(V - 1) };
}

export function replacement(opts: ReplacementOptions): ReplacementProcess {
  const V = opts.vocab;
  const variant = opts.variant ?? "uniform";
  const { token, codeOf, drawCode } = replacementCodes(V, variant);
  const schedule = toSchedule(opts.schedule, opts.scheduleName);
  const m = (t: number) => schedule.m(t);
  const name = `replacement-${variant}(${schedule.name}, V=${V})`;
  const replaced = (u: number, mt: number) => u < mt || mt >= 1;
  // P(x_t,i = x0,i | x0) and P(x_t,i = a given token != x0,i | x0).
  const pSame = (mt: number) => (variant === "uniform" ? 1 - mt + mt / V : 1 - mt);
  const pOther = (mt: number) => (variant === "uniform" ? mt / V : mt / (V - 1));

  return {
    name,
    time: { kind: "continuous" },
    vocab: V,
    maskId: null,
    variant,
    schedule,
    token,
    codeOf,
    drawCode,
    noise(shape, rng) {
      const [B, L] = seqShape(`${name}.noise`, { shape });
      const k = new Float32Array(B * L);
      for (let i = 0; i < k.length; i++) k[i] = drawCode(rng);
      return { u: tensor(shape, rng.uniforms(B * L)), k: tensor(shape, k) };
    },
    forward(x0: Tensor, t: Time, eps: ReplacementNoise): Tensor {
      const [B, L] = seqShape(`${name}.forward`, x0);
      checkIds(`${name}.forward x0`, x0, V);
      const out = new Float32Array(B * L);
      for (let b = 0; b < B; b++) {
        const mt = level(m, timeAt(t, b), name);
        for (let i = b * L; i < b * L + L; i++) {
          out[i] = replaced(eps.u.data[i], mt) ? token(x0.data[i], eps.k.data[i]) : x0.data[i];
        }
      }
      return tensor(x0.shape, out);
    },
    posteriorNoise(x0: Tensor, xt: Tensor, t: Time, rng: Rng): ReplacementNoise {
      const [B, L] = seqShape(`${name}.posteriorNoise`, xt);
      checkIds(`${name}.posteriorNoise x_t`, xt, V);
      const u = new Float32Array(B * L);
      const k = new Float32Array(B * L);
      for (let b = 0; b < B; b++) {
        const mt = level(m, timeAt(t, b), name);
        for (let i = b * L; i < b * L + L; i++) {
          const a = x0.data[i];
          const x = xt.data[i];
          const where = () => `${name}.posteriorNoise: row ${b} position ${i - b * L} (x0 ${a}, x_t ${x}) at t = ${timeAt(t, b)}, m(t) = ${mt}`;
          if (x !== a) {
            if (mt <= 0) throw new Error(`${where()}: a changed token is impossible when m(t) = 0`);
            u[i] = uniformIn(0, mt, rng);
            k[i] = codeOf(a, x);
          } else {
            const keep = 1 - mt;
            const self = variant === "uniform" ? mt / V : 0;
            if (keep + self <= 0) throw new Error(`${where()}: an unchanged token is impossible for this variant when m(t) = 1`);
            if (rng.uniform() * (keep + self) < keep) {
              u[i] = uniformIn(mt, 1, rng);
              k[i] = drawCode(rng);
            } else {
              u[i] = uniformIn(0, mt, rng);
              k[i] = a; // "uniform" only: replaced by itself
            }
          }
        }
      }
      return { u: tensor(xt.shape, u), k: tensor(xt.shape, k) };
    },
    kernel(eps: ReplacementNoise, r: number, rng: Rng): ReplacementNoise {
      if (r === 0) return eps;
      const u = Float32Array.from(eps.u.data);
      const k = Float32Array.from(eps.k.data);
      for (let i = 0; i < u.length; i++) {
        if (rng.uniform() < r) {
          u[i] = rng.uniform();
          k[i] = drawCode(rng);
        }
      }
      return { u: tensor(eps.u.shape, u), k: tensor(eps.k.shape, k) };
    },
    prior(shape: readonly number[], rng: Rng): Tensor {
      const [B, L] = seqShape(`${name}.prior`, { shape });
      const out = new Float32Array(B * L);
      for (let i = 0; i < out.length; i++) out[i] = rng.int(V);
      return tensor(shape, out);
    },
    changedRange(t, L) {
      const mt = level(m, t, name);
      if (mt <= 0) return [0, 0];
      // "different" at m = 1 replaced every token by another one.
      return variant === "different" && mt >= 1 ? [L, L] : [0, L];
    },
    likelihood(x0, xt, t) {
      const mt = level(m, t, name);
      let p = 1;
      for (let i = 0; i < x0.length; i++) p *= xt[i] === x0[i] ? pSame(mt) : pOther(mt);
      return p;
    },
  };
}
