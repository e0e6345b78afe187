import { numpy as np, type Array as JArray } from "@jax-js/jax";

/**
 * Sinusoidal time embedding (Transformer positions, as used by DDPM): with
 * s = scale * t (scale = 1000 maps t in [0, 1] to DDPM's step index) and
 * f_i = maxPeriod^(-i / half), i = 0..half-1,
 *   emb(t) = [sin(s f_0), ..., sin(s f_{half-1}), cos(s f_0), ..., cos(s f_{half-1})].
 * t: [B] (consumed) -> [B, dim].
 */
export function timeEmbedding(t: JArray, dim: number, scale = 1000, maxPeriod = 10000): JArray {
  if (!(Number.isInteger(dim) && dim >= 2 && dim % 2 === 0)) {
    throw new Error(`timeEmbedding: dim must be an even integer >= 2, got ${dim}`);
  }
  const half = dim / 2;
  const freqs = new Float32Array(half);
  for (let i = 0; i < half; i++) freqs[i] = Math.exp((-Math.log(maxPeriod) * i) / half);
  const B = t.shape[0];
  const arg = t.reshape([B, 1]).mul(scale).mul(np.array(freqs).reshape([1, half]));
  return np.concatenate([np.sin(arg.ref), np.cos(arg)], 1);
}

/** The same embedding in plain JS (float64), for tests and host-side use. */
export function timeEmbeddingHost(t: number, dim: number, scale = 1000, maxPeriod = 10000): number[] {
  const half = dim / 2;
  const out = new Array<number>(dim);
  for (let i = 0; i < half; i++) {
    const s = scale * t * Math.exp((-Math.log(maxPeriod) * i) / half);
    out[i] = Math.sin(s);
    out[half + i] = Math.cos(s);
  }
  return out;
}
