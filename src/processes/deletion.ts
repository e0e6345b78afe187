import { checkPadded, rowTokens } from "../core/padded.js";
import { timeAt, type Process, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import { toSchedule, type Destruction, type Schedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { logEmbeddings, sampleEmbedding } from "./alignment.js";
import { uniformKernel, uniformNoise } from "./kernels.js";
import { level, uniformIn } from "./tokens.js";

/**
 * Deletion, DESIGN.md section 3: sequences of varying length, as padded
 * batches [B, Lmax] (src/core/padded.ts, PAD = V).
 *   eps = u in [0, 1)^Lmax;  token i of x0 is deleted iff u_i < m(t);
 *   x_t = the kept tokens, in order (a subsequence of x0), then PAD.
 * Prior: the empty sequence (exact when m(1) = 1).
 *
 * Posterior noise: the kept positions form an embedding of x_t in x0, and
 * all embeddings are equally likely a priori (each has probability
 * m^(|x0|-|x_t|) (1-m)^|x_t|), so draw one uniformly (alignment.ts), then
 * u ~ U[m, 1) on the kept positions and U[0, m) on the deleted ones; the
 * entries past the end of x0 do not affect F and stay U[0, 1).
 * Kernel: the uniform kernel (each u_i redrawn with probability r). With
 * r = 0 every token of x_t stays and each missing token of x0_hat is
 * inserted between t and s with probability (m(t) - m(s)) / m(t).
 *
 * Infilling: ids V+1 .. 2V are the FIXED versions of tokens 0 .. V-1
 * (id V+1+c stands for c): never deleted, so the known pieces of a template
 * stay in every x_t. Data never holds them.
 *
 * The derivation is this project's extension of the seed's framework: the
 * seed names deletion as a destruction but does not work it out.
 */
export interface DeletionProcess extends Process<Tensor, Tensor> {
  readonly vocab: number;
  /** The PAD id (= vocab). */
  readonly pad: number;
  readonly schedule: Schedule;
  /** Whether an id is a fixed (never deleted) token. */
  fixed(token: number): boolean;
  /** p(x_t = xt | x0) for one pair of rows given WITHOUT padding: N(xt, x0) m^(#deleted) (1-m)^(#kept). */
  likelihood(x0: ArrayLike<number>, xt: ArrayLike<number>, t: number): number;
}

export interface DeletionOptions {
  /** Vocabulary size V: tokens 0..V-1, PAD = V, fixed tokens V+1..2V. */
  vocab: number;
  /** m(t): a Schedule (`destruction.cosine()`) or a bare function; default linear. */
  schedule?: Schedule | Destruction;
  /** Name of the schedule, for messages and checkpoints (default: the Schedule's name). */
  scheduleName?: string;
  /** Turns ids into text for error messages (e.g. the vocabulary's characters). */
  decode?: (ids: ArrayLike<number>) => string;
}

export function deletion(opts: DeletionOptions): DeletionProcess {
  const V = opts.vocab;
  if (!(Number.isInteger(V) && V >= 1)) throw new Error(`deletion: vocab must be a positive integer, got ${V}`);
  const schedule = toSchedule(opts.schedule, opts.scheduleName);
  const m = (t: number) => schedule.m(t);
  const PAD = V;
  const name = `deletion(${schedule.name}, V=${V})`;
  const fixed = (token: number) => token > PAD;
  const maxId = 2 * V + 1;
  // m >= 1 deletes everything even if a float32 u rounded up to 1.
  const deleted = (u: number, mt: number) => u < mt || mt >= 1;
  const check = (where: string, x: Tensor) => checkPadded(`${name}.${where}`, x, PAD, maxId);

  return {
    name,
    time: { kind: "continuous" },
    vocab: V,
    pad: PAD,
    schedule,
    fixed,
    noise: uniformNoise,
    forward(x0: Tensor, t: Time, u: Tensor): Tensor {
      check("forward x0", x0);
      const [B, L] = x0.shape;
      const out = new Float32Array(B * L).fill(PAD);
      for (let b = 0; b < B; b++) {
        const mt = level(m, timeAt(t, b), name);
        let j = b * L;
        for (let i = b * L; i < b * L + L && x0.data[i] !== PAD; i++) {
          if (fixed(x0.data[i]) || !deleted(u.data[i], mt)) out[j++] = x0.data[i];
        }
      }
      return tensor(x0.shape, out);
    },
    posteriorNoise(x0: Tensor, xt: Tensor, t: Time, rng: Rng): Tensor {
      check("posteriorNoise x0", x0);
      check("posteriorNoise x_t", xt);
      const [B, L] = xt.shape;
      if (x0.shape[1] !== L) throw new Error(`${name}.posteriorNoise: x0 rows hold ${x0.shape[1]} positions, x_t rows ${L}`);
      const u = rng.uniforms(B * L);
      for (let b = 0; b < B; b++) {
        const tb = timeAt(t, b);
        const mt = level(m, tb, name);
        const x = rowTokens(x0, b, PAD);
        const y = rowTokens(xt, b, PAD);
        let kept: Int32Array;
        try {
          kept = sampleEmbedding(x, y, rng, fixed, opts.decode);
        } catch (e) {
          throw new Error(`${name}.posteriorNoise: row ${b}: ${(e as Error).message.replace(/^alignment: /, "")}; an insertion model must keep every token of x_t`);
        }
        let j = 0;
        for (let i = 0; i < x.length; i++) {
          const isKept = j < kept.length && kept[j] === i;
          if (isKept) j++;
          if (fixed(x[i])) continue;
          if (isKept) {
            if (mt >= 1) throw new Error(`${name}.posteriorNoise: row ${b} keeps a token at t = ${tb} where m(t) = 1 (everything is deleted there)`);
            u[b * L + i] = uniformIn(mt, 1, rng);
          } else {
            if (mt <= 0) throw new Error(`${name}.posteriorNoise: row ${b}: x0 has ${x.length} tokens, x_t ${y.length}, but nothing is deleted at t = ${tb} where m(t) = 0`);
            u[b * L + i] = uniformIn(0, mt, rng);
          }
        }
      }
      return tensor(xt.shape, u);
    },
    kernel: uniformKernel,
    prior(shape: readonly number[], _rng: Rng): Tensor {
      if (shape.length !== 2) throw new Error(`${name}.prior: sequence batches have shape [B, Lmax], got [${shape.join(", ")}]`);
      return tensor(shape, new Float32Array(shape[0] * shape[1]).fill(PAD));
    },
    likelihood(x0, xt, t) {
      const mt = level(m, t, name);
      const free = (s: ArrayLike<number>) => Array.from(s).filter((v) => !fixed(v)).length;
      const n = free(x0);
      const k = free(xt);
      if (k > n) return 0;
      const logN = logEmbeddings(x0, xt, fixed);
      if (logN === -Infinity) return 0;
      return Math.exp(logN) * mt ** (n - k) * (1 - mt) ** k;
    },
  };
}
