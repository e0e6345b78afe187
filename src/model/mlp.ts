import { type Array as JArray } from "@jax-js/jax";
import { Rng } from "../core/rng.js";
import type { Network, Params } from "../train/types.js";
import { dense, initDense, ParamTaker, silu } from "./layers.js";
import { timeEmbedding } from "./time-embedding.js";

export interface MlpConfig {
  /** Features per example (the item is flattened; output has the input's shape). */
  inputDim: number;
  /** Hidden width (default 128). */
  hidden?: number;
  /** Number of residual hidden blocks (default 3). */
  depth?: number;
  /** Sinusoidal time-embedding size (default 32). */
  timeDim?: number;
}

/**
 * A time-conditioned MLP denoiser for low-dimensional real data:
 *   h = W_in x + W_t2 silu(W_t1 emb(t))
 *   h = h + W_k silu(h)          (depth residual blocks)
 *   out = W_out silu(h)          (zero-initialised, so the net starts at 0)
 * Output shape = input shape; what the output means (x0, eps, v) is the
 * objective's business.
 */
export function mlp(config: MlpConfig): Network {
  const inputDim = config.inputDim;
  const hidden = config.hidden ?? 128;
  const depth = config.depth ?? 3;
  const timeDim = config.timeDim ?? 32;
  for (const [k, v] of Object.entries({ inputDim, hidden, timeDim })) {
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`mlp: ${k} must be a positive integer, got ${v}`);
  }
  if (!(Number.isInteger(depth) && depth >= 0)) throw new Error(`mlp: depth must be a non-negative integer, got ${depth}`);
  if (timeDim % 2 !== 0) throw new Error(`mlp: timeDim must be even, got ${timeDim}`);

  return {
    name: "mlp",
    config: { inputDim, hidden, depth, timeDim },
    init(seed: number): Params {
      const rng = new Rng(seed);
      const p: Params = {};
      initDense(p, "in", rng, inputDim, hidden);
      initDense(p, "time1", rng, timeDim, hidden);
      initDense(p, "time2", rng, hidden, hidden);
      for (let k = 0; k < depth; k++) initDense(p, `block${k}`, rng, hidden, hidden);
      initDense(p, "out", rng, hidden, inputDim, 0);
      return p;
    },
    apply(params: Params, x: JArray, t: JArray): JArray {
      const p = new ParamTaker(params);
      const shape = x.shape;
      const B = shape[0];
      const flat = x.reshape([B, -1]);
      const features = flat.shape[1];
      if (features !== inputDim) {
        flat.dispose();
        t.dispose();
        p.finish();
        throw new Error(`mlp: input has ${shape.slice(1).join("x")} = ${features} features, the network expects ${inputDim}`);
      }
      const temb = dense(p, "time2", silu(dense(p, "time1", timeEmbedding(t, timeDim))));
      let h = dense(p, "in", flat).add(temb);
      for (let k = 0; k < depth; k++) h = h.ref.add(dense(p, `block${k}`, silu(h)));
      const out = dense(p, "out", silu(h));
      p.finish();
      return out.reshape(shape);
    },
  };
}
