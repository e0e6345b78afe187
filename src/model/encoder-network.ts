import { nn, numpy as np, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../core/rng.js";
import type { Network, Params } from "../train/types.js";

/**
 * The learned encoder E_phi and the denoiser q_theta(x0 | x_t) as ONE
 * network, so that both train on the same cross-entropy (DESIGN.md section
 * 3, "Encoding") and live in one checkpoint: params = `encoder.emb` [V, d]
 * plus the inner network's params.
 *
 * Input, per position (src/text/encoding.ts packs it):
 *   training [B, L, 3 + d] = (a_t, b_t, x0 id, eps): x_t = a E(x0) + b eps is
 *       formed HERE, inside the differentiated function, so the loss's
 *       gradient reaches E through x_t;
 *   sampling [B, L, 2 + d] = (a_t, b_t, x_t).
 * Output: logits [B, L, V] =
 *   inner(x_t, t) + (a / b^2) x_t . E(v) - (a^2 / 2 b^2) |E(v)|^2,
 * the second part being log N(x_t,i; a E(v), b^2 I) up to a constant: the
 * exact evidence of position i about its own token. Since
 * p(x0_i | x_t) ∝ p(x_t,i | x0_i) p(x0_i | x_t,-i), the inner network only
 * has to supply the context term, and at high SNR the model is as sure as
 * the noise allows (which the likelihood bound, src/text/encoding-elbo.ts,
 * weighs by SNR). b^2 is floored at 1e-8 against t -> 0.
 *
 * Collapse: trained on cross-entropy alone, E can grow until the noise stops
 * mattering. norm "sqrt-d" (the default, as in CDCD) uses the rows of
 * `encoder.emb` only through their direction, E(v) = sqrt(d) e_v / |e_v|;
 * "none" uses them as they are (for showing the failure).
 */
export type EncoderNorm = "sqrt-d" | "none";

export interface EncoderConfig {
  vocab: number;
  dim: number;
  norm: EncoderNorm;
}

export function encoderNetwork(cfg: EncoderConfig, inner: Network): Network {
  const { vocab: V, dim: d, norm } = cfg;
  if (!(Number.isInteger(V) && V >= 2)) throw new Error(`encoderNetwork: vocab must be an integer >= 2, got ${V}`);
  if (!(Number.isInteger(d) && d >= 1)) throw new Error(`encoderNetwork: dim must be a positive integer, got ${d}`);
  if (norm !== "sqrt-d" && norm !== "none") throw new Error(`encoderNetwork: norm must be "sqrt-d" or "none", got ${JSON.stringify(norm)}`);
  return {
    name: "encoder",
    config: { vocab: V, dim: d, norm, inner: { name: inner.name, config: inner.config } },
    init(seed: number): Params {
      const params = inner.init(seed);
      if ("encoder.emb" in params) throw new Error(`encoderNetwork: the inner network ${inner.name} already has a weight "encoder.emb"`);
      // A stream of its own: the inner init uses Rng(seed)'s first block, training the next two.
      const streams = new Rng(seed);
      for (let k = 0; k < 3; k++) streams.fork();
      const rng = streams.fork();
      params["encoder.emb"] = np.array(rng.normals(V * d)).reshape([V, d]);
      return params;
    },
    apply(params: Params, x: JArray, t: JArray): JArray {
      const { "encoder.emb": raw, ...rest } = params;
      const [B, L, F] = x.shape;
      if (x.shape.length !== 3 || (F !== d + 2 && F !== d + 3)) {
        x.dispose();
        t.dispose();
        for (const p of Object.values(params)) p.dispose();
        throw new Error(`encoderNetwork: input must be [B, L, ${d + 2}] (a, b, x_t) or [B, L, ${d + 3}] (a, b, x0 id, eps), got [${x.shape.join(", ")}]`);
      }
      const E = embeddings(raw, norm, d); // [V, d]
      const a = x.ref.slice([], [], [0, 1]); // [B, L, 1]
      const b = x.ref.slice([], [], [1, 2]);
      let xt: JArray;
      if (F === d + 3) {
        const onehot = nn.oneHot(x.ref.slice([], [], 2).astype(np.int32), V); // [B, L, V]
        const emb = np.matmul(onehot.reshape([B * L, V]), E.ref).reshape([B, L, d]);
        xt = emb.mul(a.ref).add(x.slice([], [], [3]).mul(b.ref));
      } else xt = x.slice([], [], [2]);
      // (a / b^2) x_t . E(v) - (a^2 / 2 b^2) |E(v)|^2, per position and token.
      const c = a.ref.div(np.maximum(np.square(b), 1e-8)); // [B, L, 1]
      const dots = np.matmul(xt.ref.reshape([B * L, d]), E.ref.transpose()).reshape([B, L, V]);
      const sq = np.square(E).sum(-1).reshape([1, 1, V]);
      const evidence = dots.mul(c.ref).sub(sq.mul(c.mul(a)).mul(0.5));
      return inner.apply(rest, xt, t).add(evidence);
    },
  };
}

/** The rows of `encoder.emb` as used: rescaled to norm sqrt(d), or as they are. Consumes raw. */
export function embeddings(raw: JArray, norm: EncoderNorm, d: number): JArray {
  if (norm === "none") return raw;
  return raw.ref.mul(Math.sqrt(d)).div(np.sqrt(np.square(raw).sum(-1, { keepdims: true }).add(1e-12)));
}

/** The same on the host, for the sampler's copy of E (src/processes/encoding.ts). */
export function embeddingsHost(raw: Float32Array, norm: EncoderNorm, d: number): Float32Array {
  const out = Float32Array.from(raw);
  if (norm === "none") return out;
  for (let v = 0; v < out.length / d; v++) {
    let sq = 0;
    for (let j = 0; j < d; j++) sq += out[v * d + j] ** 2;
    const k = Math.sqrt(d) / Math.sqrt(sq + 1e-12);
    for (let j = 0; j < d; j++) out[v * d + j] *= k;
  }
  return out;
}
