import { nn, numpy as np, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../core/rng.js";
import type { Network, Params } from "../train/types.js";
import { dense, initDense, layerNormLast, ParamTaker, silu, softmax } from "./layers.js";
import { timeEmbedding } from "./time-embedding.js";

export interface TransformerConfig {
  /** Output classes V (the data tokens; [MASK] is never predicted). */
  vocab: number;
  /** Input ids 0..inputVocab-1 (V + 1 when [MASK] = V can appear; default vocab + 1). */
  inputVocab?: number;
  /** Sequence length L (learned position embeddings). */
  length: number;
  /** Model width (default 128). */
  dim?: number;
  /** Attention heads (default 4; must divide dim). */
  heads?: number;
  /** Transformer blocks (default 4). */
  layers?: number;
  /** Hidden width of each block's MLP, as a multiple of dim (default 4). */
  mlpRatio?: number;
  /** Sinusoidal time-embedding size (default 64). */
  timeDim?: number;
  /**
   * Neighbour embeddings: position i also adds E_d[x_{i+d}] for
   * 0 < |d| <= window (a fixed convolution over tokens; default 0 = off).
   * Gives the model n-gram features from step one, which attention alone
   * learns only after a plateau.
   */
  window?: number;
  /**
   * Real-valued input: x is [B, L, inputDim] (e.g. embedded tokens under
   * the encoding process) instead of ids, and a dense layer `in` takes the
   * place of the token embedding (neighbours, if any, enter it the same way).
   */
  inputDim?: number;
  /**
   * Autoregressive: output i predicts x_i from x_0..x_{i-1} only. The input
   * is shifted right by one behind a start token (id inputVocab - 1, the
   * [MASK] id), attention is causal, neighbour embeddings look back only
   * (x_{i-d}, 0 < d <= window), and there is no time input (t is ignored):
   * one forward on x0 gives every conditional of the chain rule.
   */
  causal?: boolean;
  /**
   * ALiBi (Press et al. 2022): head h adds -slope_h |i - j| to its attention
   * scores, slopes 2^(-8h/H): each head starts with a preference for near
   * keys (from near-local to nearly flat), which learned absolute positions
   * must first discover (default false).
   */
  alibi?: boolean;
  /**
   * Block diffusion (src/processes/block.ts): blocks of `block` tokens. The
   * input is ids [B, 2L], the noisy x_t then the clean x0 (training), or
   * [B, L], x_t alone, which is then also its own clean context (sampling:
   * the blocks before the current one ARE clean). Attention is
   * block-causal (BD3-LM's vectorised form): a noisy token of block b sees
   * the noisy tokens of block b and the clean tokens of blocks < b; a clean
   * token of block b sees the clean tokens of blocks <= b. Neighbour
   * embeddings follow the same rule (a noisy token's neighbour in an
   * earlier block is read from the clean copy, one in a later block is
   * absent). Output: logits for the L noisy positions. No time input: a
   * masking model reads its level from the [MASK] count (MDLM).
   */
  block?: number;
}

/**
 * A small bidirectional (encoder-only) Transformer for categorical
 * q(x0 | x_t, t), as in MDLM / SEDD's DiT but with additive time
 * conditioning:
 *   h = E_tok[x_t,i] + sum_{0<|d|<=window} E_d[x_t,i+d] + E_pos[i] + W_t2 silu(W_t1 emb(t))
 *   h = h + Attn(LN(h));  h = h + MLP(LN(h))          (pre-norm blocks, no causal mask)
 *   logits = W_out LN(h)                               [B, L, V], W_out zero-initialised
 * Ids arrive as float32 values (the host-side Tensor convention).
 */
export function transformer(config: TransformerConfig): Network {
  const V = config.vocab;
  const Vin = config.inputVocab ?? V + 1;
  const L = config.length;
  const D = config.dim ?? 128;
  const H = config.heads ?? 4;
  const layers = config.layers ?? 4;
  const ratio = config.mlpRatio ?? 4;
  const timeDim = config.timeDim ?? 64;
  const window = config.window ?? 0;
  const inputDim = config.inputDim;
  if (inputDim !== undefined && !(Number.isInteger(inputDim) && inputDim > 0)) throw new Error(`transformer: inputDim must be a positive integer, got ${inputDim}`);
  // Features per position: a one-hot id, or the input vector.
  const F = inputDim ?? Vin;
  const causal = config.causal ?? false;
  const alibi = config.alibi ?? false;
  const block = config.block;
  if (block !== undefined && !(Number.isInteger(block) && block >= 1 && block <= L && L % block === 0)) throw new Error(`transformer: block must be an integer in 1..${L} dividing the length ${L}, got ${block}`);
  if (block !== undefined && (causal || inputDim)) throw new Error("transformer: block takes token ids and is not causal (it is block-causal by itself)");
  // No time input for the causal and the block network (t is ignored).
  const timed = !causal && block === undefined;
  if (causal && inputDim) throw new Error("transformer: causal takes token ids, not real inputs (inputDim)");
  if (!(Number.isInteger(window) && window >= 0 && window < L)) throw new Error(`transformer: window must be an integer in 0..${L - 1}, got ${window}`);
  // Offsets d of the neighbours x_{i+d}: -window..window without 0 (causal: the past only).
  const offsets = Array.from({ length: 2 * window }, (_, j) => (j < window ? j - window : j - window + 1)).filter((d) => !causal || d < 0);
  for (const [k, v] of Object.entries({ vocab: V, inputVocab: Vin, length: L, dim: D, heads: H, mlpRatio: ratio, timeDim })) {
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`transformer: ${k} must be a positive integer, got ${v}`);
  }
  if (!(Number.isInteger(layers) && layers >= 0)) throw new Error(`transformer: layers must be a non-negative integer, got ${layers}`);
  if (D % H !== 0) throw new Error(`transformer: heads (${H}) must divide dim (${D})`);
  if (Vin < V) throw new Error(`transformer: inputVocab (${Vin}) must be at least vocab (${V})`);

  /** The block network's forward (config.block): see TransformerConfig.block. */
  function applyBlock(params: Params, x: JArray, t: JArray): JArray {
    const Bk = block!;
    const p = new ParamTaker(params);
    const [B, len] = x.shape;
    t.dispose();
    if (x.shape.length !== 2 || (len !== L && len !== 2 * L)) {
      x.dispose();
      p.finish();
      throw new Error(`transformer: a block network takes ids [B, ${L}] or [B, ${2 * L}] (noisy, then clean), got [${x.shape.join(", ")}]`);
    }
    // [B, L]: x_t is its own clean context.
    const both = len === L ? np.concatenate([x.ref, x], 1) : x;
    const feats = nn.oneHot(both.astype(np.int32), Vin); // [B, 2L, F]
    const noisy = feats.ref.slice([], [0, L]);
    const clean = feats.ref.slice([], [L, 2 * L]);
    const parts = [feats];
    const blk = (i: number) => Math.floor(i / Bk);
    // out[i] = f[i + d] where keep(i) (a constant 0/1 per position), else 0.
    const shifted = (f: JArray, d: number, keep: (i: number) => boolean) => {
      const zeros = np.zeros([B, Math.abs(d), F]);
      const s = d > 0 ? np.concatenate([f.slice([], [d]), zeros], 1) : np.concatenate([zeros, f.slice([], [0, L + d])], 1);
      const m = Float32Array.from({ length: L }, (_, i) => (i + d >= 0 && i + d < L && keep(i) ? 1 : 0));
      return s.mul(np.array(m).reshape([1, L, 1]));
    };
    for (const d of offsets) {
      // A noisy token's neighbour: noisy in its own block, clean in an earlier one, none in a later one.
      const n = shifted(noisy.ref, d, (i) => blk(i + d) === blk(i)).add(shifted(clean.ref, d, (i) => blk(i + d) < blk(i)));
      // A clean token's neighbour: clean in its own or an earlier block.
      const c = shifted(clean.ref, d, (i) => blk(i + d) <= blk(i));
      parts.push(np.concatenate([n, c], 1));
    }
    noisy.dispose();
    clean.dispose();
    let h = embedTokens(p, parts, D);
    const pos = p.take("pos.emb");
    h = h.add(np.concatenate([pos.ref, pos], 0).reshape([1, 2 * L, D]));
    const out = encoderBlocks(p, h, layers, H, blockAttentionBias(L, Bk, H, alibi)).slice([], [0, L]);
    const logits = dense(p, "out", out);
    p.finish();
    return logits;
  }

  return {
    name: "transformer",
    config: { vocab: V, inputVocab: Vin, length: L, dim: D, heads: H, layers, mlpRatio: ratio, timeDim, window, ...(inputDim ? { inputDim } : {}), ...(causal ? { causal } : {}), ...(alibi ? { alibi } : {}), ...(block !== undefined ? { block } : {}) },
    init(seed: number): Params {
      const rng = new Rng(seed);
      const p: Params = {};
      const table = (rows: number, scale: number) => np.array(Float32Array.from({ length: rows * D }, () => scale * rng.normal())).reshape([rows, D]);
      if (inputDim) initDense(p, "in", rng, (1 + offsets.length) * inputDim, D);
      else p["tok.emb"] = table(Vin, 1);
      p["pos.emb"] = table(L, 0.5);
      if (offsets.length > 0 && !inputDim) p["near.emb"] = table(offsets.length * Vin, 1);
      if (timed) {
        initDense(p, "time1", rng, timeDim, D);
        initDense(p, "time2", rng, D, D);
      }
      initBlocks(p, rng, D, layers, ratio);
      initDense(p, "out", rng, D, V, 0);
      return p;
    },
    apply(params: Params, x: JArray, t: JArray): JArray {
      if (block !== undefined) return applyBlock(params, x, t);
      const p = new ParamTaker(params);
      const [B, len] = x.shape;
      const want = inputDim ? `vectors [B, ${L}, ${inputDim}]` : `ids [B, ${L}]`;
      if (x.shape.length !== (inputDim ? 3 : 2) || len !== L || (inputDim && x.shape[2] !== inputDim)) {
        x.dispose();
        t.dispose();
        p.finish();
        throw new Error(`transformer: input must be ${want}, got [${x.shape.join(", ")}]`);
      }
      if (causal) {
        // Start token, then x_0..x_{L-2}: position i sees x_{<i} only.
        x = np.concatenate([np.full([B, 1], Vin - 1), x.slice([], [0, L - 1])], 1);
      }
      const feats = inputDim ? x : nn.oneHot(x.astype(np.int32), Vin); // [B, L, F]
      // [f(x_i), f(x_{i+d}) for each d] @ [E_tok; E_near] (or @ W_in): one matmul.
      const parts = [feats.ref];
      for (const d of offsets) {
        const zeros = np.zeros([B, Math.abs(d), F]);
        parts.push(d > 0 ? np.concatenate([feats.ref.slice([], [d]), zeros], 1) : np.concatenate([zeros, feats.ref.slice([], [0, L + d])], 1));
      }
      feats.dispose();
      let h = inputDim ? dense(p, "in", parts.length === 1 ? parts[0] : np.concatenate(parts, 2)) : embedTokens(p, parts, D);
      h = h.add(p.take("pos.emb").reshape([1, L, D]));
      if (!timed) t.dispose();
      else h = h.add(dense(p, "time2", silu(dense(p, "time1", timeEmbedding(t, timeDim)))).reshape([B, 1, D]));
      const bias = causal || alibi ? attentionBias(L, H, causal, alibi) : undefined;
      const logits = dense(p, "out", encoderBlocks(p, h, layers, H, bias));
      p.finish();
      return logits;
    },
  };
}

/**
 * The token and neighbour embeddings of one-hot features [B, N, F] (parts:
 * f(x_i), then f(x_{i+d}) for each offset d) in one matmul:
 * [f(x_i), f(x_{i+d})...] @ [E_tok; E_near] -> [B, N, D]. Consumes parts.
 */
function embedTokens(p: ParamTaker, parts: JArray[], D: number): JArray {
  const [B, N, F] = parts[0].shape;
  const all = parts.length === 1 ? parts[0] : np.concatenate(parts, 2);
  const table = parts.length === 1 ? p.take("tok.emb") : np.concatenate([p.take("tok.emb"), p.take("near.emb")], 0);
  return np.matmul(all.reshape([B * N, parts.length * F]), table).reshape([B, N, D]);
}

/**
 * The attention bias [H, L, L] (or [L, L] without ALiBi): causal: -1e9 where
 * key j > query i (finite, so softmax never sees -inf - -inf); ALiBi:
 * -2^(-8h/H) |i - j| for head h = 1..H.
 */
export function attentionBias(L: number, H: number, causal: boolean, alibi: boolean): JArray {
  const heads = alibi ? H : 1;
  const b = new Float32Array(heads * L * L);
  for (let h = 0; h < heads; h++) {
    const slope = alibi ? 2 ** ((-8 * (h + 1)) / H) : 0;
    for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) b[(h * L + i) * L + j] = causal && j > i ? -1e9 : -slope * Math.abs(i - j);
  }
  return np.array(b).reshape(alibi ? [H, L, L] : [L, L]);
}

/**
 * The block-causal attention bias [H, 2L, 2L] (or [2L, 2L] without ALiBi)
 * over (noisy x_t, clean x0): a noisy query of block b sees noisy keys of
 * block b and clean keys of blocks < b; a clean query of block b sees clean
 * keys of blocks <= b; -1e9 elsewhere. ALiBi distances are between
 * positions in the sequence (i mod L), whichever copy.
 */
export function blockAttentionBias(L: number, block: number, H: number, alibi: boolean): JArray {
  const heads = alibi ? H : 1;
  const N = 2 * L;
  const b = new Float32Array(heads * N * N);
  const blk = (p: number) => Math.floor((p % L) / block);
  for (let h = 0; h < heads; h++) {
    const slope = alibi ? 2 ** ((-8 * (h + 1)) / H) : 0;
    for (let q = 0; q < N; q++) {
      for (let k = 0; k < N; k++) {
        const seen = q < L ? (k < L ? blk(k) === blk(q) : blk(k) < blk(q)) : k >= L && blk(k) <= blk(q);
        b[(h * N + q) * N + k] = seen ? -slope * Math.abs((q % L) - (k % L)) : -1e9;
      }
    }
  }
  return np.array(b).reshape(alibi ? [H, N, N] : [N, N]);
}

/**
 * The weights of `layers` pre-norm encoder blocks of width D plus the final
 * LayerNorm ("block{k}.*", "final.ln.*"), shared by the Transformers here.
 */
export function initBlocks(p: Params, rng: Rng, D: number, layers: number, ratio: number): void {
  const ln = (name: string) => {
    p[`${name}.g`] = np.ones([D]);
    p[`${name}.b`] = np.zeros([D]);
  };
  for (let k = 0; k < layers; k++) {
    ln(`block${k}.ln1`);
    for (const w of ["q", "k", "v"]) initDense(p, `block${k}.${w}`, rng, D, D);
    // Residual branches start small so the stack starts near the identity.
    initDense(p, `block${k}.o`, rng, D, D, 1 / Math.sqrt(2 * Math.max(1, layers)));
    ln(`block${k}.ln2`);
    initDense(p, `block${k}.mlp1`, rng, D, ratio * D);
    initDense(p, `block${k}.mlp2`, rng, ratio * D, D, 1 / Math.sqrt(2 * Math.max(1, layers)));
  }
  ln("final.ln");
}

export function layerNorm(p: ParamTaker, name: string, x: JArray): JArray {
  return layerNormLast(x, p.take(`${name}.g`), p.take(`${name}.b`));
}

/**
 * h [B, L, D] through the blocks of initBlocks and the final LayerNorm:
 *   h = h + Attn(LN(h));  h = h + MLP(LN(h))
 * (bidirectional; `bias` adds an attention bias [L, L] or [H, L, L] in every block, e.g. a causal mask or
 * ALiBi: built once, consumed).
 */
export function encoderBlocks(p: ParamTaker, h: JArray, layers: number, H: number, bias?: JArray): JArray {
  const [B, L, D] = h.shape;
  const Dh = D / H;
  for (let k = 0; k < layers; k++) {
    const a = layerNorm(p, `block${k}.ln1`, h.ref);
    // [B, L, D] -> [B, H, L, Dh]. (nn.dotProductAttention uses einsum, which
    // needs Node 22's iterator helpers, so attention is spelled out.)
    const heads = (w: string, z: JArray) => dense(p, `block${k}.${w}`, z).reshape([B, L, H, Dh]).transpose([0, 2, 1, 3]);
    const q = heads("q", a.ref);
    const kT = heads("k", a.ref).transpose([0, 1, 3, 2]);
    const v = heads("v", a);
    let scores = np.matmul(q, kT).mul(1 / Math.sqrt(Dh));
    if (bias) scores = scores.add(bias.ref);
    const att = np.matmul(softmax(scores), v).transpose([0, 2, 1, 3]).reshape([B, L, D]);
    h = h.add(dense(p, `block${k}.o`, att));
    const m = dense(p, `block${k}.mlp2`, nn.gelu(dense(p, `block${k}.mlp1`, layerNorm(p, `block${k}.ln2`, h.ref))));
    h = h.add(m);
  }
  bias?.dispose();
  return layerNorm(p, "final.ln", h);
}
