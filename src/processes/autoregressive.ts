import { timeAt, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import { destruction } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { countedMasking, type CountedProcess, type RankNoise } from "./counted.js";
import { seqShape } from "./tokens.js";

/**
 * Autoregression as a destruction process: the counted masking of
 * counted.ts with its random ranking replaced by a FIXED one, so that the
 * last positions are destroyed first. At t_n = n/L exactly the last n
 * positions are [MASK]; x_t is a prefix of x0.
 *
 * eps is a constant (rank_i = L - 1 - i), so q(eps) is a point mass: the
 * posterior noise is that constant (once x_t is checked to be a masked
 * suffix) and the only kernel that keeps a point mass is the identity, so
 * every r samples the same. With L steps the one sampler reveals exactly
 * position L - n at the step t_n -> t_(n-1): left-to-right generation. The
 * NELBO of this process is the chain rule sum_i -log q(x0_i | x0_<i), an
 * exact log-likelihood (src/text/autoregressive.ts).
 */
export function autoregressive(opts: { vocab: number; length: number }): CountedProcess {
  const L = opts.length;
  const base = countedMasking({ vocab: opts.vocab, length: L, schedule: destruction.linear(), scheduleName: "linear" });
  const MASK = base.maskId!;
  const name = `autoregressive(V=${opts.vocab}, L=${L})`;
  const fixed = (B: number): RankNoise => {
    const rank = new Float32Array(B * L);
    for (let i = 0; i < rank.length; i++) rank[i] = L - 1 - (i % L);
    return { rank: tensor([B, L], rank), k: tensor([B, L]) };
  };
  /** Is row `xt` x0 with exactly its last n positions masked? */
  const isPrefix = (x0: ArrayLike<number>, xt: ArrayLike<number>, n: number) => {
    for (let i = 0; i < L; i++) if (xt[i] !== (i < L - n ? x0[i] : MASK)) return false;
    return true;
  };
  return {
    ...base,
    name,
    noise: (shape) => fixed(seqShape(`${name}.noise`, { shape })[0]),
    posteriorNoise(x0: Tensor, xt: Tensor, t: Time, _rng: Rng): RankNoise {
      const [B, len] = seqShape(`${name}.posteriorNoise`, xt);
      if (len !== L) throw new Error(`${name}.posteriorNoise: sequences have length ${len}, this process was built for length ${L}`);
      for (let b = 0; b < B; b++) {
        const n = base.count(timeAt(t, b));
        if (!isPrefix(x0.data.subarray(b * L, b * L + L), xt.data.subarray(b * L, b * L + L), n)) {
          throw new Error(`${name}.posteriorNoise: row ${b} at t = ${timeAt(t, b)} is not x0 with its last ${n} positions masked`);
        }
      }
      return fixed(B);
    },
    kernel: (eps) => eps,
    likelihood: (x0, xt, t) => (isPrefix(x0, xt, base.count(t)) ? 1 : 0),
  };
}
