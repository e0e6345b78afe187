import type { Denoiser } from "../core/denoiser.js";
import type { Rng } from "../core/rng.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { networkDenoiser, networkForward, type NetworkDenoiserOptions } from "../train/network-denoiser.js";
import type { Network, Params } from "../train/types.js";
import { checkLevels, levelValue } from "./levels.js";

type ImageDenoiserOptions = Pick<NetworkDenoiserOptions, "chunk" | "cond">;

/**
 * q(x0 | x_t) from a network that predicts x0 (blur, heat), clipped to the
 * data range [-1, 1]: a point mass at the prediction.
 */
export function imageX0Denoiser(network: Network, params: Params, opts: ImageDenoiserOptions = {}): Denoiser & { dispose(): void } {
  return networkDenoiser(network, params, (out) => out, { ...opts, clip: 1 });
}

/**
 * q(x0 | x_t) for pixel masking with a point-mass (mean) network: the
 * network's x0 prediction on hidden pixels, and the visible pixels copied
 * from x_t (a proper posterior puts no mass on an x0 that disagrees with
 * what is visible; this is what makes the r = 0 step keep every visible
 * pixel). Revealing means paints blur: levelsDenoiser samples instead.
 */
export function maskDenoiser(network: Network, params: Params, opts: ImageDenoiserOptions = {}): Denoiser & { dispose(): void } {
  return networkDenoiser(network, params, (out, xt) => keepVisible(out, xt), { ...opts, clip: 1 });
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

/** Logits [B, C, H, W, K] of a categorical q(x0 | x_t) over K pixel levels, for masked images x_t [B, C + 1, H, W]. */
export type PixelLogits = (xt: Tensor, t: number) => Promise<Tensor> | Tensor;

/**
 * Categorical pixels (DESIGN.md "Categorical pixels"): x0_hat ~ q(x0 | x_t)
 * drawn level by level, each hidden pixel and channel from the softmax of its
 * logits (independently given x_t), each visible pixel copied from x_t.
 * Only the pixels revealed in a step use x0_hat: with r = 0 and many steps
 * they are revealed about one at a time, where exact per-pixel marginals
 * make the sampler exact without a joint model (tested with an oracle).
 */
export function levelsDenoiser(logits: PixelLogits, levels: number): Denoiser {
  const K = checkLevels(levels, "levelsDenoiser");
  return {
    async sample(xt: Tensor, t: number, rng: Rng): Promise<Tensor> {
      const l = await logits(xt, t);
      const [B, C1, H, W] = xt.shape;
      const C = C1 - 1, hw = H * W;
      if (l.shape.join() !== [B, C, H, W, K].join()) throw new Error(`levelsDenoiser: logits have shape [${l.shape.join(", ")}], expected [${[B, C, H, W, K].join(", ")}]`);
      const out = new Float32Array(B * C * hw);
      const p = new Float64Array(K);
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < hw; i++) {
          const hidden = xt.data[(b * C1 + C) * hw + i] > 0.5;
          for (let c = 0; c < C; c++) {
            const o = (b * C + c) * hw + i;
            if (!hidden) {
              out[o] = xt.data[(b * C1 + c) * hw + i];
              continue;
            }
            let mx = -Infinity;
            for (let k = 0; k < K; k++) mx = Math.max(mx, l.data[o * K + k]);
            for (let k = 0; k < K; k++) p[k] = Math.exp(l.data[o * K + k] - mx);
            out[o] = levelValue(rng.categorical(p), K);
          }
        }
      }
      return tensor([B, C, H, W], out);
    },
  };
}

/** levelsDenoiser of a network that outputs per-pixel logits (unet with `levels`), with optional class guidance on the logits. */
export function maskLevelsDenoiser(network: Network, params: Params, levels: number, opts: ImageDenoiserOptions = {}): Denoiser & { dispose(): void } {
  const fwd = networkForward(network, params, opts);
  return Object.assign(levelsDenoiser(fwd, levels), { dispose: () => fwd.dispose() });
}
