import { nn, numpy as np, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../core/rng.js";
import type { Network, Params } from "../train/types.js";
import { addPerChannel, avgPool2, channelAxis, conv3x3, featureShape, fromFeatures, fromTokens, groupNorm, initConv3x3, initGroupNorm, pointwise, toFeatures, toTokens, upsample2, withNativeLayout } from "./conv.js";
import { dense, initDense, ParamTaker, silu, softmax } from "./layers.js";
import { timeEmbedding } from "./time-embedding.js";

export interface UnetConfig {
  /** Input channels (image channels; + 1 for the mask channel of pixel masking). */
  inChannels: number;
  /** Output channels (default inChannels). */
  outChannels?: number;
  /** Channels per resolution level, finest first (default [8, 16, 32], sized for 2 CPU cores); the side must divide by 2^(levels - 1). */
  channels?: number[];
  /** Self-attention at the lowest resolution (default true). */
  attention?: boolean;
  /** Group-norm groups (default 4; lowered to a divisor of the channel count where needed). */
  groups?: number;
  /** Sinusoidal time-embedding size (default 64). */
  timeDim?: number;
  /**
   * Class-conditional: `classes` labels plus a null label (id = classes),
   * embedded and added to the time embedding (DESIGN.md "Guidance").
   */
  classes?: number;
  /** Output a categorical over this many levels per pixel: logits [B, outC, H, W, levels]. */
  levels?: number;
}

/**
 * A small time-conditioned UNet (Ronneberger et al. 2015, as used by DDPM):
 *   in-conv -> [ResBlock, save skip, avg-pool] per level -> middle
 *   (ResBlock, attention, ResBlock) -> [nearest upsample, concat skip,
 *   ResBlock] per level -> GroupNorm, SiLU, out-conv (zero-init).
 * ResBlock(x, temb) = skip(x) + conv(SiLU(GN(conv(SiLU(GN(x))) + W temb))),
 * skip a 1x1 conv when the channel count changes. Convolutions are im2col
 * (conv.ts). Input/output layout is [B, C, H, W] like the host Tensors; inside
 * it runs in conv.ts's layout. With the defaults (1 channel) it has 82 k weights;
 * channels [16, 32, 64] give 0.32 M. A class-conditional UNet adds a learned
 * embedding of the label (row `classes` is the null label, used when no cond
 * is given) to the time embedding, as in classifier-free guidance (Ho &
 * Salimans 2022). With `levels` the out-conv gives outC * levels channels,
 * read as per-pixel logits.
 */
export function unet(config: UnetConfig): Network {
  const inC = config.inChannels;
  const outC = config.outChannels ?? inC;
  const channels = config.channels ?? [8, 16, 32];
  const attention = config.attention ?? true;
  const groups = config.groups ?? 4;
  const timeDim = config.timeDim ?? 64;
  const classes = config.classes;
  const levels = config.levels;
  for (const [k, v] of Object.entries({ inChannels: inC, outChannels: outC, groups, timeDim, ...(classes === undefined ? {} : { classes }) })) {
    if (!(Number.isInteger(v) && v > 0)) throw new Error(`unet: ${k} must be a positive integer, got ${v}`);
  }
  if (channels.length < 1 || !channels.every((c) => Number.isInteger(c) && c > 0)) {
    throw new Error(`unet: channels must be a non-empty list of positive integers, got [${channels.join(", ")}]`);
  }
  if (timeDim % 2 !== 0) throw new Error(`unet: timeDim must be even, got ${timeDim}`);
  if (levels !== undefined && !(Number.isInteger(levels) && levels >= 2)) throw new Error(`unet: levels must be an integer >= 2, got ${levels}`);
  const groupsFor = (c: number) => {
    let g = Math.min(groups, c);
    while (c % g !== 0) g--;
    return g;
  };
  const L = channels.length;
  const embDim = 4 * channels[0];

  const initRes = (p: Params, name: string, rng: Rng, cin: number, cout: number) => {
    initGroupNorm(p, `${name}.norm1`, cin);
    initConv3x3(p, `${name}.conv1`, rng, cin, cout);
    initDense(p, `${name}.time`, rng, embDim, cout);
    initGroupNorm(p, `${name}.norm2`, cout);
    // Zero-init the second conv: each block starts as (nearly) its skip path.
    initConv3x3(p, `${name}.conv2`, rng, cout, cout, 0);
    if (cin !== cout) initDense(p, `${name}.skip`, rng, cin, cout);
  };

  const res = (p: ParamTaker, name: string, x: JArray, temb: JArray, cin: number, cout: number): JArray => {
    let h = conv3x3(p, `${name}.conv1`, silu(groupNorm(p, `${name}.norm1`, x.ref, groupsFor(cin))));
    h = addPerChannel(h, dense(p, `${name}.time`, silu(temb)));
    h = conv3x3(p, `${name}.conv2`, silu(groupNorm(p, `${name}.norm2`, h, groupsFor(cout))));
    const skip = cin !== cout ? pointwise(p, `${name}.skip`, x) : x;
    return skip.add(h);
  };

  const initAttn = (p: Params, name: string, rng: Rng, c: number) => {
    initGroupNorm(p, `${name}.norm`, c);
    initDense(p, `${name}.qkv`, rng, c, 3 * c);
    initDense(p, `${name}.out`, rng, c, c, 0);
  };

  /** Single-head self-attention over the H * W positions, residual. */
  const attn = (p: ParamTaker, name: string, x: JArray, c: number): JArray => {
    const [, H, W] = featureShape(x);
    const qkv = dense(p, `${name}.qkv`, toTokens(groupNorm(p, `${name}.norm`, x.ref, groupsFor(c))));
    const q = qkv.ref.slice([], [], [0, c]);
    const k = qkv.ref.slice([], [], [c, 2 * c]);
    const v = qkv.slice([], [], [2 * c, 3 * c]);
    const scores = np.matmul(q, np.swapaxes(k, 1, 2)).mul(1 / Math.sqrt(c));
    const o = np.matmul(softmax(scores), v);
    return x.add(fromTokens(dense(p, `${name}.out`, o), H, W));
  };

  const net: Network = {
    name: "unet",
    config: { inChannels: inC, outChannels: outC, channels, attention, groups, timeDim, classes, levels },
    init(seed: number): Params {
      const rng = new Rng(seed);
      const p: Params = {};
      initDense(p, "time1", rng, timeDim, embDim);
      initDense(p, "time2", rng, embDim, embDim);
      initConv3x3(p, "in", rng, inC, channels[0]);
      for (let l = 0; l < L; l++) initRes(p, `down${l}`, rng, l === 0 ? channels[0] : channels[l - 1], channels[l]);
      const cm = channels[L - 1];
      initRes(p, "mid1", rng, cm, cm);
      if (attention) initAttn(p, "attn", rng, cm);
      initRes(p, "mid2", rng, cm, cm);
      for (let l = L - 2; l >= 0; l--) initRes(p, `up${l}`, rng, channels[l + 1] + channels[l], channels[l]);
      initGroupNorm(p, "outnorm", channels[0]);
      initConv3x3(p, "out", rng, channels[0], outC * (levels ?? 1), 0);
      // Drawn last, so an unconditional UNet's weights do not depend on this option.
      if (classes !== undefined) initDense(p, "class", rng, classes + 1, embDim);
      return p;
    },
    apply(params: Params, x: JArray, t: JArray, cond?: JArray): JArray {
      const p = new ParamTaker(params);
      const [B, C, H, W] = x.shape;
      const fail = (msg: string): never => {
        x.dispose();
        t.dispose();
        cond?.dispose();
        p.finish();
        throw new Error(msg);
      };
      // An unconditional UNet accepts and ignores labels (the Network contract).
      if (cond && classes === undefined) {
        cond.dispose();
        cond = undefined;
      }
      if (cond && (cond.shape.length !== 1 || cond.shape[0] !== B)) fail(`unet: cond must be [${B}] class ids, got shape [${cond.shape.join(", ")}]`);
      if (x.shape.length !== 4) fail(`unet: expects images [B, C, H, W], got shape [${x.shape.join(", ")}]`);
      if (C !== inC) fail(`unet: input has ${C} channels, the network expects ${inC}`);
      const f = 2 ** (L - 1);
      if (H % f !== 0 || W % f !== 0) fail(`unet: image ${H} x ${W} must divide by ${f} for ${L} levels (channels [${channels.join(", ")}])`);

      let temb = dense(p, "time2", silu(dense(p, "time1", timeEmbedding(t, timeDim))));
      if (classes !== undefined) {
        const ids = cond ?? np.full([B], classes);
        temb = temb.add(dense(p, "class", nn.oneHot(ids.astype(np.int32), classes + 1)));
      }
      let h = conv3x3(p, "in", toFeatures(x));
      const skips: JArray[] = [];
      for (let l = 0; l < L; l++) {
        h = res(p, `down${l}`, h, temb.ref, l === 0 ? channels[0] : channels[l - 1], channels[l]);
        if (l < L - 1) {
          skips.push(h.ref);
          h = avgPool2(h);
        }
      }
      const cm = channels[L - 1];
      h = res(p, "mid1", h, temb.ref, cm, cm);
      if (attention) h = attn(p, "attn", h, cm);
      h = res(p, "mid2", h, temb.ref, cm, cm);
      for (let l = L - 2; l >= 0; l--) {
        h = np.concatenate([upsample2(h), skips.pop()!], channelAxis());
        h = res(p, `up${l}`, h, temb.ref, channels[l + 1] + channels[l], channels[l]);
      }
      temb.dispose();
      const out = conv3x3(p, "out", silu(groupNorm(p, "outnorm", h, groupsFor(channels[0]))));
      p.finish();
      return fromFeatures(out, levels);
    },
  };
  return { ...net, apply: (...a) => withNativeLayout(() => net.apply(...a)) };
}
