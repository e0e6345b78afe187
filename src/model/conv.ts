import { lax, numpy as np, nn, type Array as JArray } from "@jax-js/jax";
import type { Rng } from "../core/rng.js";
import type { Params } from "../train/types.js";
import { dense, initDense, type ParamTaker } from "./layers.js";

/**
 * Convolution-network pieces for images in channels-last layout [B, H, W, C].
 * A 3x3 convolution is written as im2col: pad by one, take the 9 shifted
 * H x W windows, concatenate them on the channel axis ([B, H, W, 9 C]) and
 * apply a dense layer [9 C, C_out]. In jax-js this trains about 10x faster than
 * lax.conv, and the weights are plain dense layers (`name.w` [9 C_in, C_out],
 * `name.b`), so layers.ts's init and ParamTaker serve them unchanged. Under
 * ONNX Runtime lax.conv is faster: see `withConvForm`.
 * All functions consume their array arguments (jax-js ownership).
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

/** 3x3 "same" convolution with zero padding: [B, H, W, C_in] -> [B, H, W, C_out]. */
export function conv3x3(p: ParamTaker, name: string, x: JArray): JArray {
  if (convForm === "im2col") return dense(p, name, im2col3x3(x));
  // w [9 C_in, C_out], row (3 dy + dx) C_in + c -> kernel [C_out, C_in, 3, 3].
  const w = p.take(`${name}.w`);
  const b = p.take(`${name}.b`);
  const [nine, cout] = w.shape;
  const kernel = w.reshape([3, 3, nine / 9, cout]).transpose([3, 2, 0, 1]);
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
  const [B, H, W, C] = x.shape;
  if (C % groups !== 0) throw new Error(`groupNorm(${name}): ${C} channels do not split into ${groups} groups`);
  const xg = x.reshape([B, H * W, groups, C / groups]);
  const mean = np.mean(xg.ref, [1, 3], { keepdims: true });
  const d = xg.sub(mean);
  const variance = np.mean(np.square(d.ref), [1, 3], { keepdims: true });
  const y = d.div(np.sqrt(variance.add(1e-5))).reshape([B, H, W, C]);
  return y.mul(p.take(`${name}.scale`)).add(p.take(`${name}.shift`));
}

/** 2x2 average pooling: [B, H, W, C] -> [B, H/2, W/2, C] (H, W even). */
export function avgPool2(x: JArray): JArray {
  const [B, H, W, C] = x.shape;
  if (H % 2 !== 0 || W % 2 !== 0) throw new Error(`avgPool2: needs even height and width, got ${H} x ${W}`);
  return np.mean(x.reshape([B, H / 2, 2, W / 2, 2, C]), [2, 4]);
}

/** Nearest-neighbour 2x upsampling: [B, H, W, C] -> [B, 2H, 2W, C]. */
export function upsample2(x: JArray): JArray {
  const [B, H, W, C] = x.shape;
  return np.broadcastTo(x.reshape([B, H, 1, W, 1, C]), [B, H, 2, W, 2, C]).reshape([B, 2 * H, 2 * W, C]);
}

export { silu } from "./layers.js";
