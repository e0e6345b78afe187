import { nn, type Array as JArray } from "@jax-js/jax";
import type { Denoiser } from "../core/denoiser.js";
import { timeAt, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { batchedForward } from "../engine/forward.js";
import type { NetworkForwardOptions } from "../train/network-denoiser.js";
import type { Network, Params } from "../train/types.js";

/**
 * A factorised categorical model q(x0 | x_t) = prod_i Cat(x0_i; p_i(x_t, t)):
 * log-probabilities [B, L, V] for a batch of token sequences. A Transformer
 * (src/model/transformer.ts) and the enumerable oracle's marginals both fit.
 */
export interface CategoricalModel {
  readonly vocab: number;
  logProbs(xt: Tensor, t: Time): Promise<Float32Array> | Float32Array;
}

/**
 * A Network's log-softmax output as a CategoricalModel: one forward (with one
 * t per row) on an engine (src/engine/), in chunks that fit its memory (at
 * most `chunk` rows when given); the params are kept. Call dispose() to free
 * the engine's side.
 */
export function networkCategorical(network: Network, params: Params, opts: NetworkForwardOptions = {}): CategoricalModel & { dispose(): void } {
  const V = network.config.vocab;
  if (!(typeof V === "number" && Number.isInteger(V) && V > 0)) throw new Error(`networkCategorical: network ${network.name} has no integer config.vocab`);
  const fwd = batchedForward((p: Params, b: { x: JArray; t: JArray }) => nn.logSoftmax(network.apply(p, b.x, b.t), -1), params, {
    engine: opts.engine,
    maxRows: opts.chunk,
    label: "networkCategorical",
  });
  return {
    vocab: V,
    async logProbs(xt: Tensor, t: Time): Promise<Float32Array> {
      // x_t is [B, L] token ids, or [B, L, ...] per-position features (encoding); the output is [B, L, V].
      const B = xt.shape[0];
      const ts = Float32Array.from({ length: B }, (_, j) => timeAt(t, j));
      return (await fwd({ x: xt, t: tensor([B], ts) })).data;
    },
    dispose: () => fwd.dispose(),
  };
}

export interface CategoricalDenoiserOptions {
  /**
   * The [MASK] id of a masking process: positions visible in x_t are copied
   * into x0_hat (the process makes them certain) and only masked positions are
   * drawn. Leave unset for replacement, where every position is drawn.
   */
  maskId?: number | null;
  /** Softmax temperature for sampling (default 1 = the model itself). */
  temperature?: number;
  /**
   * The process's support (TokenProcess.changedRange): x0_hat is drawn from
   * the factorised q CONDITIONED on the number of positions where x0_hat
   * differs from x_t lying in [min, max]. An exact posterior puts no mass
   * outside it, so this only removes a learned model's impossible guesses,
   * for which posteriorNoise is undefined (replacement "different" at m = 1,
   * the counted forms). Ignored for masking (visible tokens are copied).
   */
  changedRange?: (t: number, L: number) => [number, number];
}

/** x0_hat ~ q(x0 | x_t): each position drawn from its softmax (independently given x_t). */
export function categoricalDenoiser(model: CategoricalModel, opts: CategoricalDenoiserOptions = {}): Denoiser {
  const V = model.vocab;
  const maskId = opts.maskId ?? null;
  const temp = opts.temperature ?? 1;
  if (!(temp > 0)) throw new Error(`categoricalDenoiser: temperature must be positive, got ${temp}`);
  return {
    async sample(xt: Tensor, t: number, rng: Rng): Promise<Tensor> {
      const logp = await model.logProbs(xt, t);
      // x0_hat is ids [B, L], whatever the shape of x_t (tokens, or vectors under encoding).
      const [B, L] = xt.shape;
      const out = new Float32Array(B * L);
      const w = new Float64Array(V);
      const range = maskId === null && opts.changedRange ? opts.changedRange(t, L) : null;
      if (range && !(range[0] <= 0 && range[1] >= L)) {
        for (let b = 0; b < B; b++) sampleRowWithCount(logp, xt.data, out, b * L, L, V, temp, range, rng);
        return tensor([B, L], out);
      }
      for (let i = 0; i < out.length; i++) {
        if (maskId !== null && xt.data[i] !== maskId) {
          out[i] = xt.data[i];
          continue;
        }
        let mx = -Infinity;
        for (let v = 0; v < V; v++) mx = Math.max(mx, logp[i * V + v]);
        for (let v = 0; v < V; v++) w[v] = Math.exp((logp[i * V + v] - mx) / temp);
        out[i] = rng.categorical(w);
      }
      return tensor([B, L], out);
    },
  };
}

/**
 * One row of x0_hat from prod_i q_i conditioned on #{i : x0_i != x_t,i} in
 * [lo, hi]: the count of changed positions is a Poisson-binomial with
 * P(change at i) = 1 - q_i(x_t,i); a forward pass over positions builds its
 * distribution, a backward pass draws which positions change given the
 * count, then each changed position draws from q_i restricted to != x_t,i.
 */
function sampleRowWithCount(logp: Float32Array, xt: Float32Array, out: Float32Array, off: number, L: number, V: number, temp: number, [lo, hi]: [number, number], rng: Rng): void {
  const probs: Float64Array[] = [];
  const stay = new Float64Array(L);
  for (let i = 0; i < L; i++) {
    const p = new Float64Array(V);
    let mx = -Infinity;
    for (let v = 0; v < V; v++) mx = Math.max(mx, logp[(off + i) * V + v]);
    let z = 0;
    for (let v = 0; v < V; v++) z += p[v] = Math.exp((logp[(off + i) * V + v] - mx) / temp);
    for (let v = 0; v < V; v++) p[v] /= z;
    probs.push(p);
    // Keep both outcomes possible (a float softmax can round one to 0).
    stay[i] = Math.min(1 - 1e-12, Math.max(1e-12, p[xt[off + i]]));
  }
  // f[i][c]: P(c changes among the first i positions), renormalised per i (ratios within a row are what matter).
  const f: Float64Array[] = [Float64Array.from({ length: L + 1 }, (_, c) => (c === 0 ? 1 : 0))];
  for (let i = 0; i < L; i++) {
    const g = new Float64Array(L + 1);
    let z = 0;
    for (let c = 0; c <= i + 1; c++) z += g[c] = f[i][c] * stay[i] + (c > 0 ? f[i][c - 1] * (1 - stay[i]) : 0);
    for (let c = 0; c <= i + 1; c++) g[c] /= z;
    f.push(g);
  }
  const weights = Float64Array.from({ length: L + 1 }, (_, c) => (c >= lo && c <= hi ? f[L][c] : 0));
  let c = rng.categorical(weights);
  for (let i = L - 1; i >= 0; i--) {
    const changed = c > 0 ? f[i][c - 1] * (1 - stay[i]) : 0;
    const kept = f[i][c] * stay[i];
    const x = xt[off + i];
    if (rng.uniform() * (changed + kept) < changed) {
      const p = Float64Array.from(probs[i]);
      p[x] = 0;
      // If q gave the other tokens no mass at all, any other token will do.
      if (!(p.reduce((a, b) => a + b, 0) > 0)) p.fill(1).fill(0, x, x + 1);
      out[off + i] = rng.categorical(p);
      c--;
    } else out[off + i] = x;
  }
}
