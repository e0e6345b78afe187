import type { Process } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { gaussian } from "./gaussian.js";
import { checkIds, seqShape } from "./tokens.js";

/**
 * The encoding process, DESIGN.md section 3: Gaussian diffusion of the
 * embedded tokens,
 *   x_t = a(t) E(x0) + b(t) eps,   x0 token ids [B, L], E(x0) and eps [B, L, d].
 * It IS the Gaussian process applied to E(x0): posterior noise is the point
 * (x_t - a E(x0)) / b, the kernel is sqrt(1 - r^2) eps + r xi, the prior
 * N(0, b(1)^2 I), and the step x_s = F_s(x0_hat, eps') re-encodes x0_hat.
 *
 * Shapes: `noise` and `prior` take the DATA shape [B, L] (what the sampler
 * and training pass) and return [B, L, d]. The sampler therefore ends on
 * x_0 = E(x0_hat) (b(0) = 0), which `decode` maps back to ids.
 *
 * E is learned jointly with the denoiser (its weights are the network's
 * `encoder.emb`, src/model/encoder-network.ts); this host-side copy is what
 * the sampler uses. `encoder.table` is read at every call, so loading a
 * trained encoder into it is one assignment.
 */
export interface Encoder {
  readonly vocab: number;
  readonly dim: number;
  /** Row v (d values) is E(v); [V * d], row-major. */
  table: Float32Array;
}

/** An encoder with a given table (rows E(0) .. E(V-1)). */
export function encoderFromRows(rows: readonly (readonly number[])[]): Encoder {
  const dim = rows[0]?.length ?? 0;
  if (rows.length < 1 || dim < 1 || rows.some((r) => r.length !== dim)) throw new Error(`encoder: rows must be V >= 1 vectors of one dimension d >= 1`);
  return { vocab: rows.length, dim, table: Float32Array.from(rows.flat()) };
}

export interface EncodingProcess extends Process<Tensor, Tensor> {
  readonly schedule: NoiseSchedule;
  readonly encoder: Encoder;
  readonly vocab: number;
  /** E(x0): ids [B, L] -> [B, L, d]. */
  embed(x0: Tensor): Tensor;
  /** Nearest embedding per position: [B, L, d] -> ids [B, L] (exact on x_0 = E(x0_hat)). */
  decode(x: Tensor): Tensor;
  /** log p(x_t | x0) for one row: the oracle's likelihood (src/oracles/enumerable.ts). */
  logLikelihood(x0: ArrayLike<number>, xt: ArrayLike<number>, t: number): number;
}

export function encoding(opts: { schedule: NoiseSchedule; encoder: Encoder }): EncodingProcess {
  const { schedule, encoder } = opts;
  const V = encoder.vocab, d = encoder.dim;
  const g = gaussian(schedule);
  const name = `encoding(${schedule.name}, V=${V}, d=${d})`;
  const vectors = (shape: readonly number[]) => [...seqShape(name, { shape }), d];

  function embed(x0: Tensor): Tensor {
    const [B, L] = seqShape(`${name}.embed`, x0);
    checkIds(`${name} x0`, x0, V);
    const out = new Float32Array(B * L * d);
    for (let i = 0; i < B * L; i++) out.set(encoder.table.subarray(x0.data[i] * d, x0.data[i] * d + d), i * d);
    return tensor([B, L, d], out);
  }

  return {
    name,
    time: g.time,
    schedule,
    encoder,
    vocab: V,
    embed,
    noise: (shape: readonly number[], rng: Rng) => g.noise(vectors(shape), rng),
    forward: (x0: Tensor, t, eps: Tensor) => g.forward(embed(x0), t, eps),
    posteriorNoise: (x0: Tensor, xt: Tensor, t, rng: Rng) => g.posteriorNoise(embed(x0), xt, t, rng),
    kernel: g.kernel,
    prior: (shape: readonly number[], rng: Rng) => g.prior(vectors(shape), rng),
    decode(x: Tensor): Tensor {
      if (x.shape.length !== 3 || x.shape[2] !== d) throw new Error(`${name}.decode: expects vectors [B, L, ${d}], got [${x.shape.join(", ")}]`);
      const n = x.shape[0] * x.shape[1];
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        let best = Infinity;
        for (let v = 0; v < V; v++) {
          let dist = 0;
          for (let j = 0; j < d; j++) dist += (x.data[i * d + j] - encoder.table[v * d + j]) ** 2;
          if (dist < best) [best, out[i]] = [dist, v];
        }
      }
      return tensor([x.shape[0], x.shape[1]], out);
    },
    logLikelihood(x0: ArrayLike<number>, xt: ArrayLike<number>, t: number): number {
      const a = schedule.a(t), b = schedule.b(t);
      if (!(b > 0)) throw new Error(`${name}.logLikelihood: b(${t}) = ${b}; x_t has no density at t = 0`);
      let sq = 0;
      for (let i = 0; i < x0.length; i++) {
        for (let j = 0; j < d; j++) sq += (xt[i * d + j] - a * encoder.table[x0[i] * d + j]) ** 2;
      }
      return -sq / (2 * b * b) - x0.length * d * Math.log(b * Math.sqrt(2 * Math.PI));
    },
  };
}
