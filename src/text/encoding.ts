import type { Denoiser } from "../core/denoiser.js";
import { timeAt, type Time } from "../core/process.js";
import type { NoiseSchedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import type { Encoder, EncodingProcess } from "../processes/encoding.js";
import type { Objective } from "../train/types.js";
import type { CategoricalModel } from "./denoiser.js";

/**
 * Encoding diffusion on text (src/processes/encoding.ts): what the network
 * sees, the training objective, and the denoiser's mean E[E(x0) | x_t].
 *
 * The network's input is a per-position pack whose first two features are
 * a(t) and b(t) (the network adds the exact per-position likelihood of each
 * token to its logits, src/model/encoder-network.ts, and needs both):
 *   sampling  [B, L, 2 + d]     = (a, b, x_t)
 *   training  [B, L, 3 + d]     = (a, b, x0 id, eps)
 * In training the network forms x_t = a E(x0) + b eps ITSELF, inside the
 * differentiated function, so the gradient of the loss reaches the encoder E.
 */

/** Per position: a(t_row), b(t_row), then the row's own features (`width` per position). */
function pack(schedule: NoiseSchedule, t: Time, shape: readonly number[], width: number, fill: (row: number, pos: number, out: Float32Array, at: number) => void): Tensor {
  const [B, L] = shape;
  const out = new Float32Array(B * L * (2 + width));
  for (let b = 0; b < B; b++) {
    const tb = timeAt(t, b);
    const a = schedule.a(tb), s = schedule.b(tb);
    for (let i = 0; i < L; i++) {
      const at = (b * L + i) * (2 + width);
      out[at] = a;
      out[at + 1] = s;
      fill(b, i, out, at + 2);
    }
  }
  return tensor([B, L, 2 + width], out);
}

/** The sampling input (a, b, x_t) for x_t [B, L, d]. */
export function samplingInput(schedule: NoiseSchedule, xt: Tensor, t: Time): Tensor {
  const [B, L, d] = xt.shape;
  return pack(schedule, t, [B, L], d, (b, i, out, at) => out.set(xt.data.subarray((b * L + i) * d, (b * L + i + 1) * d), at));
}

/** The training input (a, b, x0 id, eps) for x0 ids [B, L] and eps [B, L, d]. */
export function trainingInput(schedule: NoiseSchedule, x0: Tensor, t: Time, eps: Tensor): Tensor {
  const [B, L] = x0.shape;
  const d = eps.shape[2];
  return pack(schedule, t, [B, L], 1 + d, (b, i, out, at) => {
    out[at] = x0.data[b * L + i];
    out.set(eps.data.subarray((b * L + i) * d, (b * L + i + 1) * d), at + 1);
  });
}

/**
 * -log q_theta(x0 | x_t): the token cross-entropy at every position (every
 * position is noised). The network sees the training pack, not the host's
 * x_t (whose encoder is a stale copy during training).
 */
export function encodingObjective(process: EncodingProcess): Objective<Tensor, Tensor> & { description: Record<string, unknown> } {
  return {
    loss: "ce",
    description: { kind: "tokens", weight: "all positions", process: process.name, input: "a, b, x0 id, eps (x_t formed inside the network)" },
    target: (x0) => ({ target: x0 }),
    input: (x0, _xt, t, eps) => trainingInput(process.schedule, x0, t, eps),
  };
}

/** A network's categorical model over the sampling pack: logProbs(x_t) for x_t [B, L, d]. */
export function onVectors(model: CategoricalModel, schedule: NoiseSchedule): CategoricalModel {
  return { vocab: model.vocab, logProbs: (xt, t) => model.logProbs(samplingInput(schedule, xt, t), t) };
}

/** sum_v p_i(v) E(v) per position: log-probabilities [B, L, V] -> [B, L, d]. */
export function expectedEmbedding(logp: Float32Array, shape: readonly [number, number], encoder: Encoder): Tensor {
  const [B, L] = shape;
  const { vocab: V, dim: d, table } = encoder;
  const out = new Float32Array(B * L * d);
  for (let i = 0; i < B * L; i++) {
    for (let v = 0; v < V; v++) {
      const p = Math.exp(logp[i * V + v]);
      if (p === 0) continue;
      for (let j = 0; j < d; j++) out[i * d + j] += p * table[v * d + j];
    }
  }
  return tensor([B, L, d], out);
}

/**
 * A denoiser of the encoding process: x0_hat from `base` (ids), and the mean
 * E[E(x0) | x_t] from the model's per-position probabilities, which is what
 * the continuous-time solvers (ODE, DPM-Solver++) integrate with.
 */
export function withEmbeddingMean(base: Denoiser, model: CategoricalModel, encoder: Encoder): Denoiser {
  return {
    sample: (xt, t, rng) => base.sample(xt, t, rng),
    async mean(xt: Tensor, t: number): Promise<Tensor> {
      return expectedEmbedding(await model.logProbs(xt, t), [xt.shape[0], xt.shape[1]], encoder);
    },
  };
}
