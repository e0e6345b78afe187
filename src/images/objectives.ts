import { tensor, type Tensor } from "../core/tensor.js";
import type { LossKind, Objective } from "../train/types.js";

/**
 * Objectives for image processes whose network predicts x0 directly
 * (blur, heat: Cold Diffusion trains x0 with L1, i.e. a Laplace q; mse is the
 * Gaussian q): target x0, unit weight.
 */
export function x0Objective(loss: Extract<LossKind, "mse" | "l1"> = "l1"): Objective<Tensor, Tensor> {
  if (loss !== "mse" && loss !== "l1") throw new Error(`x0 objective: loss must be mse or l1, got "${loss}"`);
  return { loss, target: (x0) => ({ target: x0 }) };
}

/**
 * Pixel masking (pixel-mask.ts): predict x0, counting only the hidden pixels
 * (the visible ones are known, as for token masking's cross-entropy). x_t is
 * [B, C + 1, H, W] with the mask in the last channel; the weight is that mask
 * copied to every one of the C image channels.
 */
export function maskedX0Objective(loss: Extract<LossKind, "mse" | "l1"> = "mse"): Objective<Tensor, Tensor> {
  if (loss !== "mse" && loss !== "l1") throw new Error(`masked x0 objective: loss must be mse or l1, got "${loss}"`);
  return {
    loss,
    target(x0, xt) {
      const [B, C, H, W] = x0.shape;
      if (xt.shape[1] !== C + 1) throw new Error(`masked x0 objective: x_t has ${xt.shape[1]} channels, expected ${C + 1} (image + mask)`);
      const w = new Float32Array(x0.data.length);
      for (let b = 0; b < B; b++) {
        const mask = xt.data.subarray((b * (C + 1) + C) * H * W, (b * (C + 1) + C + 1) * H * W);
        for (let c = 0; c < C; c++) w.set(mask, (b * C + c) * H * W);
      }
      return { target: x0, weight: tensor(x0.shape, w) };
    },
  };
}
