import type { Denoiser } from "../core/denoiser.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { networkDenoiser } from "../train/network-denoiser.js";
import type { Network, Params } from "../train/types.js";

/**
 * q(x0 | x_t) from a network that predicts x0 (blur, heat), clipped to the
 * data range [-1, 1]: a point mass at the prediction.
 */
export function imageX0Denoiser(network: Network, params: Params, opts: { chunk?: number } = {}): Denoiser & { dispose(): void } {
  return networkDenoiser(network, params, (out) => out, { chunk: opts.chunk, clip: 1 });
}

/**
 * q(x0 | x_t) for pixel masking: the network's x0 prediction on hidden
 * pixels, and the visible pixels copied from x_t (a proper posterior puts no
 * mass on an x0 that disagrees with what is visible; this is what makes the
 * r = 0 step keep every visible pixel).
 */
export function maskDenoiser(network: Network, params: Params, opts: { chunk?: number } = {}): Denoiser & { dispose(): void } {
  return networkDenoiser(network, params, (out, xt) => keepVisible(out, xt), { chunk: opts.chunk, clip: 1 });
}

/** x0_hat with the visible pixels of x_t [B, C + 1, H, W] (mask last) written over it. */
export function keepVisible(x0hat: Tensor, xt: Tensor): Tensor {
  const [B, C, H, W] = x0hat.shape;
  if (xt.shape[1] !== C + 1) throw new Error(`keepVisible: x_t has ${xt.shape[1]} channels, expected ${C + 1} (image + mask)`);
  const out = Float32Array.from(x0hat.data);
  const hw = H * W;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < hw; i++) {
      if (xt.data[(b * (C + 1) + C) * hw + i] > 0.5) continue;
      for (let c = 0; c < C; c++) out[(b * C + c) * hw + i] = xt.data[(b * (C + 1) + c) * hw + i];
    }
  }
  return tensor(x0hat.shape, out);
}
