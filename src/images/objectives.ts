import { tensor, type Tensor } from "../core/tensor.js";
import type { LossKind, Objective } from "../train/types.js";
import { checkLevels, levelIds } from "./levels.js";

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
 * copied to every one of the C image channels. This q is a point mass (its
 * mean): sampling with it paints blurry conditional means; prefer
 * maskedLevelsObjective.
 */
export function maskedX0Objective(loss: Extract<LossKind, "mse" | "l1"> = "mse"): Objective<Tensor, Tensor> {
  if (loss !== "mse" && loss !== "l1") throw new Error(`masked x0 objective: loss must be mse or l1, got "${loss}"`);
  return { loss, target: (x0, xt) => ({ target: x0, weight: hiddenWeight(x0, xt, "masked x0 objective") }) };
}

/**
 * Categorical pixels (DESIGN.md "Categorical pixels"): q(x0 | x_t) is a
 * categorical over K levels per hidden pixel and channel, trained with the
 * cross-entropy over the hidden pixels. The network outputs logits
 * [B, C, H, W, K]; the target is the level id of each pixel of x0.
 */
export function maskedLevelsObjective(levels: number): Objective<Tensor, Tensor> {
  const K = checkLevels(levels, "masked levels objective");
  return {
    loss: "ce",
    target: (x0, xt) => ({ target: levelIds(x0, K), weight: hiddenWeight(x0, xt, "masked levels objective") }),
  };
}

/** The mask channel of x_t [B, C + 1, H, W], copied to each of x0's C channels: 1 where hidden. */
function hiddenWeight(x0: Tensor, xt: Tensor, who: string): Tensor {
  const [B, C, H, W] = x0.shape;
  if (xt.shape[1] !== C + 1) throw new Error(`${who}: x_t has ${xt.shape[1]} channels, expected ${C + 1} (image + mask)`);
  const w = new Float32Array(x0.data.length);
  for (let b = 0; b < B; b++) {
    const mask = xt.data.subarray((b * (C + 1) + C) * H * W, (b * (C + 1) + C + 1) * H * W);
    for (let c = 0; c < C; c++) w.set(mask, (b * C + c) * H * W);
  }
  return tensor(x0.shape, w);
}
