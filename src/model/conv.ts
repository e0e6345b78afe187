import { jit, lax, numpy as np, nn, type Array as JArray } from "@jax-js/jax";
import type { Rng } from "../core/rng.js";
import type { Params } from "../train/types.js";
import { dense, initDense, type ParamTaker } from "./layers.js";

/**
 * Convolution-network pieces for images. A 3x3 convolution is written as
 * im2col: pad by one, take the 9 shifted H x W windows, concatenate them on
 * the channel axis ([B, H, W, 9 C]) and apply a dense layer [9 C, C_out]. In
 * jax-js this trains about 10x faster than lax.conv, and the weights are
 * plain dense layers (`name.w` [9 C_in, C_out], `name.b`), so layers.ts's
 * init and ParamTaker serve them unchanged. Under ONNX Runtime lax.conv is
 * faster: see `withConvForm`.
 *
 * Feature maps are channels-last [B, H, W, C], except inside
 * `withNativeLayout` in the conv form: there they are channels-first
 * [B, C, H, W], lax.conv's and ONNX's own layout (no transposes around each
 * conv; group norm reduces contiguous spans). Every function below works in
 * the current layout; `toFeatures`/`fromFeatures` convert from/to the host's
 * [B, C, H, W]. All functions consume their array arguments (jax-js
 * ownership).
 */

/** The 9 shifted windows of a 3x3 "same" convolution, concatenated: [B, H, W, C] -> [B, H, W, 9 C]. */
export function im2col3x3(x: JArray): JArray {
  const [, H, W] = x.shape;
  const xp = np.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]);
  const windows: JArray[] = [];
  for (let dy = 0; dy < 3; dy++) for (let dx = 0; dx < 3; dx++) windows.push(xp.ref.slice([], [dy, dy + H], [dx, dx + W], []));
  xp.dispose();
  return np.concatenate(windows, 3);
}

export function initConv3x3(params: Params, name: string, rng: Rng, cin: number, cout: number, scale = 1): void {
  initDense(params, name, rng, 9 * cin, cout, scale);
}

/**
 * How conv3x3 computes: "im2col" (a dense layer over the 9 windows; the
 * fastest under jax-js) or "conv" (lax.conv, which ONNX Runtime runs as its
 * Conv kernel; the fastest there). Both use the same weights. An engine picks
 * the form for the programs it traces with `withConvForm`.
 */
export type ConvForm = "im2col" | "conv";
let convForm: ConvForm = "im2col";

/** Run `f` (e.g. a function being traced) with conv3x3 computed in `form`. */
export function withConvForm<T>(form: ConvForm, f: () => T): T {
  const before = convForm;
  convForm = form;
  try {
    return f();
  } finally {
    convForm = before;
  }
}

let channelsFirst = false;

/**
 * Run `f` (a network's forward) with feature maps in the conv form's own
 * layout: channels-first for lax.conv, channels-last for im2col. Outside it
 * feature maps are channels-last whatever the form.
 */
export function withNativeLayout<T>(f: () => T): T {
  const before = channelsFirst;
  channelsFirst = convForm === "conv";
  try {
    return f();
  } finally {
    channelsFirst = before;
  }
}

/** Host images [B, C, H, W] as feature maps of the current layout. */
export function toFeatures(x: JArray): JArray {
  return channelsFirst ? x : np.transpose(x, [0, 2, 3, 1]);
}

/**
 * Feature maps back to the host's [B, C, H, W]; with `levels`, C = C' levels
 * channels are read as per-pixel logits [B, C', H, W, levels].
 */
export function fromFeatures(h: JArray, levels?: number): JArray {
  if (channelsFirst) {
    if (levels === undefined) return h;
    const [B, C, H, W] = h.shape;
    return np.transpose(h.reshape([B, C / levels, levels, H, W]), [0, 1, 3, 4, 2]);
  }
  if (levels === undefined) return np.transpose(h, [0, 3, 1, 2]);
  const [B, H, W, C] = h.shape;
  return np.transpose(h.reshape([B, H, W, C / levels, levels]), [0, 3, 1, 2, 4]);
}

/** The channel axis of feature maps. */
export const channelAxis = (): number => (channelsFirst ? 1 : 3);

/** The [B, H, W, C] sizes of feature maps, whatever the layout. */
export function featureShape(h: JArray): [number, number, number, number] {
  const [B, a, b, c] = h.shape;
  return channelsFirst ? [B, b, c, a] : [B, a, b, c];
}

/** Add a per-image channel vector v [B, C] at every pixel. */
export function addPerChannel(h: JArray, v: JArray): JArray {
  const [B, C] = v.shape;
  return h.add(v.reshape(channelsFirst ? [B, C, 1, 1] : [B, 1, 1, C]));
}

/** A per-channel parameter [C] shaped to broadcast over feature maps. */
const perChannel = (v: JArray): JArray => (channelsFirst ? v.reshape([v.shape[0], 1, 1]) : v);

/** A dense layer over the channels at each pixel (a 1x1 convolution; weights [C_in, C_out]). */
export function pointwise(p: ParamTaker, name: string, x: JArray): JArray {
  if (!channelsFirst) return dense(p, name, x);
  const w = p.take(`${name}.w`);
  const b = p.take(`${name}.b`);
  const [cin, cout] = w.shape;
  if (x.shape[1] !== cin) throw new Error(`pointwise(${name}): input has ${x.shape[1]} channels, the layer expects ${cin}`);
  const kernel = np.transpose(w, [1, 0]).reshape([cout, cin, 1, 1]);
  return lax.convGeneralDilated(x, kernel, [1, 1], [[0, 0], [0, 0]]).add(perChannel(b));
}

/** Feature maps as a sequence of pixels [B, H W, C] (for attention), and back. */
export function toTokens(h: JArray): JArray {
  const [B, H, W, C] = featureShape(h);
  return channelsFirst ? np.transpose(h.reshape([B, C, H * W]), [0, 2, 1]) : h.reshape([B, H * W, C]);
}

export function fromTokens(x: JArray, H: number, W: number): JArray {
  const [B, , C] = x.shape;
  return channelsFirst ? np.transpose(x, [0, 2, 1]).reshape([B, C, H, W]) : x.reshape([B, H, W, C]);
}

/** 3x3 "same" convolution with zero padding: C_in -> C_out channels. */
export function conv3x3(p: ParamTaker, name: string, x: JArray): JArray {
  if (convForm === "im2col") {
    if (channelsFirst) throw new Error(`conv3x3(${name}): the im2col form needs channels-last feature maps`);
    return dense(p, name, im2col3x3(x));
  }
  // w [9 C_in, C_out], row (3 dy + dx) C_in + c -> kernel [C_out, C_in, 3, 3].
  const w = p.take(`${name}.w`);
  const b = p.take(`${name}.b`);
  const [nine, cout] = w.shape;
  const kernel = w.reshape([3, 3, nine / 9, cout]).transpose([3, 2, 0, 1]);
  if (channelsFirst) return lax.convGeneralDilated(x, kernel, [1, 1], [[1, 1], [1, 1]]).add(perChannel(b));
  const y = lax.convGeneralDilated(x.transpose([0, 3, 1, 2]), kernel, [1, 1], [[1, 1], [1, 1]]);
  return y.transpose([0, 2, 3, 1]).add(b);
}

/** Group norm parameters: per-channel scale 1 and shift 0. */
export function initGroupNorm(params: Params, name: string, channels: number): void {
  params[`${name}.scale`] = np.ones([channels]);
  params[`${name}.shift`] = np.zeros([channels]);
}

/**
 * Group normalisation (Wu & He 2018): per image, the channels are split into
 * `groups` groups and each is normalised over (H, W, its channels), then a
 * per-channel affine map. Independent of the batch, so it behaves the same in
 * training and sampling.
 */
export function groupNorm(p: ParamTaker, name: string, x: JArray, groups: number): JArray {
  const [B, H, W, C] = featureShape(x);
  if (C % groups !== 0) throw new Error(`groupNorm(${name}): ${C} channels do not split into ${groups} groups`);
  const scale = p.take(`${name}.scale`);
  const shift = p.take(`${name}.shift`);
  if (channelsFirst) return groupNormChannelsFirst(groups)(x, scale, shift);
  const xg = x.reshape([B, H * W, groups, C / groups]);
  const mean = np.mean(xg.ref, [1, 3], { keepdims: true });
  const d = xg.sub(mean);
  const variance = np.mean(np.square(d.ref), [1, 3], { keepdims: true });
  const y = d.div(np.sqrt(variance.add(1e-5))).reshape([B, H, W, C]);
  return y.mul(scale).add(shift);
}

const groupNormJits = new Map<number, (x: JArray, scale: JArray, shift: JArray) => JArray>();

/**
 * Group norm of channels-first x [B, C, ...] (each group one contiguous
 * span) with per-channel scale and shift [C]: a jit named "groupNorm", one
 * per group count, which the ONNX lowering runs with its gradient as a few
 * fused ops (engine/onnx/fuse.ts).
 */
export function groupNormChannelsFirst(groups: number): (x: JArray, scale: JArray, shift: JArray) => JArray {
  let f = groupNormJits.get(groups);
  if (!f) {
    f = jit(function groupNorm(x: JArray, scale: JArray, shift: JArray): JArray {
      const shape = x.shape;
      const perChannel = [shape[1], ...shape.slice(2).map(() => 1)];
      const xg = x.reshape([shape[0], groups, -1]);
      const mean = np.mean(xg.ref, [2], { keepdims: true });
      const d = xg.sub(mean);
      const variance = np.mean(np.square(d.ref), [2], { keepdims: true });
      const y = d.div(np.sqrt(variance.add(1e-5))).reshape(shape);
      return y.mul(scale.reshape(perChannel)).add(shift.reshape(perChannel));
    });
    groupNormJits.set(groups, f);
  }
  return f;
}

/** 2x2 average pooling: H x W -> H/2 x W/2 (H, W even). */
export function avgPool2(x: JArray): JArray {
  const [B, H, W, C] = featureShape(x);
  if (H % 2 !== 0 || W % 2 !== 0) throw new Error(`avgPool2: needs even height and width, got ${H} x ${W}`);
  if (channelsFirst) return np.mean(x.reshape([B, C, H / 2, 2, W / 2, 2]), [3, 5]);
  return np.mean(x.reshape([B, H / 2, 2, W / 2, 2, C]), [2, 4]);
}

/** Nearest-neighbour 2x upsampling: H x W -> 2H x 2W. */
export function upsample2(x: JArray): JArray {
  const [B, H, W, C] = featureShape(x);
  if (channelsFirst) return np.broadcastTo(x.reshape([B, C, H, 1, W, 1]), [B, C, H, 2, W, 2]).reshape([B, C, 2 * H, 2 * W]);
  return np.broadcastTo(x.reshape([B, H, 1, W, 1, C]), [B, H, 2, W, 2, C]).reshape([B, 2 * H, 2 * W, C]);
}

export { silu } from "./layers.js";
