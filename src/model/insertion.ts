import { nn, numpy as np, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../core/rng.js";
import type { Network, Params } from "../train/types.js";
import { dense, initDense, ParamTaker, silu } from "./layers.js";
import { timeEmbedding } from "./time-embedding.js";
import { encoderBlocks, initBlocks } from "./transformer.js";

export interface InsertionConfig {
  /** Data tokens V: input ids 0..V-1, PAD = V (and BOS = V+1, EOS = V+2 inside). */
  vocab: number;
  /** Lmax: rows hold at most this many tokens; also K, the most tokens one gap can receive. */
  maxLength: number;
  /** Model width (default 64). */
  dim?: number;
  /** Attention heads (default 4; must divide dim). */
  heads?: number;
  /** Transformer blocks (default 2). */
  layers?: number;
  /** Hidden width of each block's MLP, as a multiple of dim (default 4). */
  mlpRatio?: number;
  /** Sinusoidal time-embedding size (default 32). */
  timeDim?: number;
}

/**
 * Input and output layout. Input [B, Lmax + 2Q]: the padded ids of x_t,
 * then Q slot queries as gap indices and slot indices (a gap index < 0 is
 * an unused query). Output [B, G (K + 2) + Q V]: for each of the G = Lmax + 1
 * gaps its allocation logit and the K + 1 logits of the total count (the
 * same in every gap), then the token logits of each query.
 */
export function insertionLayout(vocab: number, maxLength: number): { gaps: number; K: number; head: number } {
  return { gaps: maxLength + 1, K: maxLength, head: (maxLength + 1) * (maxLength + 2) };
}

/** Logit given to impossible outcomes (a total making |x0_hat| > Lmax, a gap past the end of x_t). */
export const IMPOSSIBLE = -1e9;

/**
 * The insertion model q_theta(x0 | x_t) of deletion diffusion (after the
 * Levenshtein Transformer and FlexMDM): a bidirectional Transformer over
 * [BOS] x_t [EOS] (then PAD) that gives
 *   - the total number T of tokens to insert, T = 0..K, masked (IMPOSSIBLE)
 *     where T > Lmax - |x_t|, so |x0_hat| <= Lmax exactly; read at BOS;
 *   - how they are shared among the |x_t| + 1 gaps: allocation logits a_g
 *     (gap counts ~ Multinomial(T, softmax(a)); gaps past |x_t| masked);
 *   - token logits for slot j of gap g, for the queried (g, j) only.
 * Gap g reads its two neighbours h_g, h_{g+1}; slot j adds a slot embedding:
 *   z_g = gelu(W_gap [h_g; h_{g+1}]),   a_g = W_a z_g,   totals = W_T h_BOS + log C(|x_t| + T, T),
 *   tokens(g, j) = W_tok gelu(W_s z_g + E_slot[j]).
 * Queries keep the token head cheap: training asks for the <= Lmax slots
 * that hold a deleted token, not all (Lmax + 1) Lmax of them; sampling asks
 * for the slots its counts created (src/text/insertion.ts).
 * (Independent per-gap counts, masked jointly to |x0_hat| <= Lmax, bias the
 * lengths down: a factorised model overestimates the spread of the total,
 * and the mask cuts its top; a total with an allocation has no such cut.)
 *
 * Time enters twice: as an embedding added to every position (as in
 * transformer.ts), and through the exact tilt m(t)^T of the total, which
 * the loss and the sampler apply (src/text/insertion.ts). The tilt alone
 * would be exact for an exact joint model; a model that factorises over
 * gaps and slots needs t to place its marginals.
 */
/**
 * log C(k + T, T) for T = 0..K, per row ([B, 1, 1] -> [B, 1, K + 1]): the
 * number of ways k kept tokens sit among k + T. It is the total's base
 * measure: if only lengths mattered, p(T | |x_t| = k) ∝ p(|x0| = k + T)
 * C(k + T, T) m^T, so the network's total logits learn (log) p(|x0|) and
 * content on top of it, and the untrained model already inserts the
 * right number of tokens on average for a flat length prior (from a flat
 * base it inserted far too few, and learned the steep log C only slowly).
 * Sums of log((k + i) / i) over i <= T, as a matmul with a 0/1 matrix.
 */
function logChoose(k: JArray, K: number): JArray {
  const B = k.shape[0];
  const i = np.arange(1, K + 1).astype(np.float32).reshape([1, K]);
  const terms = np.log(k.reshape([B, 1]).add(i.ref)).sub(np.log(i)); // [B, K]
  const upto = Float32Array.from({ length: K * (K + 1) }, (_, n) => Number(Math.floor(n / (K + 1)) < n % (K + 1)));
  return np.matmul(terms, np.array(upto).reshape([K, K + 1])).reshape([B, 1, K + 1]);
}

export function insertionTransformer(config: InsertionConfig): Network {
  const V = config.vocab;
  const L = config.maxLength;
  const D = config.dim ?? 64;
  const H = config.heads ?? 4;
  const layers = config.layers ?? 2;
  const ratio = config.mlpRatio ?? 4;
  const timeDim = config.timeDim ?? 32;
  for (const [k, v] of Object.entries({ vocab: V, maxLength: L, dim: D, heads: H, mlpRatio: ratio, timeDim })) {
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`insertionTransformer: ${k} must be a positive integer, got ${v}`);
  }
  if (!(Number.isInteger(layers) && layers >= 0)) throw new Error(`insertionTransformer: layers must be a non-negative integer, got ${layers}`);
  if (D % H !== 0) throw new Error(`insertionTransformer: heads (${H}) must divide dim (${D})`);
  const { gaps: G, K } = insertionLayout(V, L);
  const Vin = V + 3;
  const [PAD, BOS] = [V, V + 1];

  return {
    name: "insertion-transformer",
    config: { vocab: V, maxLength: L, dim: D, heads: H, layers, mlpRatio: ratio, timeDim },
    init(seed: number): Params {
      const rng = new Rng(seed);
      const p: Params = {};
      const table = (rows: number, scale: number) => np.array(Float32Array.from({ length: rows * D }, () => scale * rng.normal())).reshape([rows, D]);
      p["tok.emb"] = table(Vin, 1);
      p["pos.emb"] = table(L + 2, 0.5);
      initDense(p, "time1", rng, timeDim, D);
      initDense(p, "time2", rng, D, D);
      initBlocks(p, rng, D, layers, ratio);
      initDense(p, "gap", rng, 2 * D, D);
      // Zero-initialised heads: the untrained model starts uniform (totals, gaps, tokens).
      initDense(p, "alloc", rng, D, 1, 0);
      initDense(p, "total", rng, D, K + 1, 0);
      initDense(p, "slot", rng, D, D);
      p["slot.emb"] = table(K, 1);
      initDense(p, "tok", rng, D, V, 0);
      return p;
    },
    apply(params: Params, input: JArray, t: JArray): JArray {
      const p = new ParamTaker(params);
      const [B, width] = input.shape;
      const Q = (width - L) / 2;
      if (input.shape.length !== 2 || !(Number.isInteger(Q) && Q >= 0)) {
        input.dispose();
        t.dispose();
        p.finish();
        throw new Error(`insertionTransformer: input must be [B, ${L} + 2 Q] (padded ids, then Q query gaps and slots), got [${input.shape.join(", ")}]`);
      }
      const x = Q === 0 ? input : input.ref.slice([], [0, L]);
      // |x_t| per row: totals T with T + |x_t| > Lmax and gaps g > |x_t| are impossible.
      const k = np.notEqual(x.ref, PAD).astype(np.float32).sum(1).reshape([B, 1, 1]);
      const overT = np.greater(k.ref.add(np.arange(K + 1).astype(np.float32).reshape([1, 1, K + 1])), L).astype(np.float32);
      const pastEnd = np.greater(np.arange(G).astype(np.float32).reshape([1, G, 1]), k.ref).astype(np.float32);
      // [BOS] x_t [EOS] PAD...: the first PAD after BOS x_t becomes EOS (= PAD + 2).
      const a0 = np.concatenate([np.full([B, 1], BOS), x, np.full([B, 1], PAD)], 1);
      const isPad = np.equal(a0.ref, PAD).astype(np.float32);
      const prevPad = np.concatenate([np.zeros([B, 1]), isPad.ref.slice([], [0, L + 1])], 1);
      const a = a0.add(isPad.mul(prevPad.mul(-1).add(1)).mul(2));
      let h = np.matmul(nn.oneHot(a.astype(np.int32), Vin).reshape([B * (L + 2), Vin]), p.take("tok.emb")).reshape([B, L + 2, D]);
      h = h.add(p.take("pos.emb").reshape([1, L + 2, D]));
      const temb = dense(p, "time2", silu(dense(p, "time1", timeEmbedding(t, timeDim))));
      h = h.add(temb.reshape([B, 1, D]));
      h = encoderBlocks(p, h, layers, H);
      const totals = dense(p, "total", h.ref.slice([], [0, 1])).add(logChoose(k, K)).add(overT.mul(IMPOSSIBLE)); // [B, 1, K+1]
      const pair = np.concatenate([h.ref.slice([], [0, G]), h.slice([], [1, G + 1])], 2);
      const z = nn.gelu(dense(p, "gap", pair));
      const alloc = dense(p, "alloc", z.ref).add(pastEnd.mul(IMPOSSIBLE)); // [B, G, 1]
      const head = np.concatenate([alloc, np.broadcastTo(totals, [B, G, K + 1])], 2).reshape([B, G * (K + 2)]);
      if (Q === 0) {
        z.dispose();
        p.finish();
        return head;
      }
      // Slot queries: z of the queried gap plus the slot's embedding, by one-hot matmuls.
      const qg = np.maximum(input.ref.slice([], [L, L + Q]), 0).astype(np.int32);
      const qj = np.maximum(input.slice([], [L + Q, L + 2 * Q]), 0).astype(np.int32);
      const zq = np.matmul(nn.oneHot(qg, G), z); // [B, Q, D]
      const eq = np.matmul(nn.oneHot(qj, K).reshape([B * Q, K]), p.take("slot.emb")).reshape([B, Q, D]);
      const tokens = dense(p, "tok", nn.gelu(dense(p, "slot", zq).add(eq))).reshape([B, Q * V]);
      p.finish();
      return np.concatenate([head, tokens], 1);
    },
  };
}
