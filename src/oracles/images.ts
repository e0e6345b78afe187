import type { Denoiser } from "../core/denoiser.js";
import type { Rng } from "../core/rng.js";
import type { Destruction, Schedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { levelOf, levelValue } from "../images/levels.js";
import { masking } from "../processes/masking.js";
import { enumerable, enumerableDenoiser, indexOf, sampleEnumerable, stringAt, type Enumerable } from "./enumerable.js";

/**
 * An enumerable distribution over tiny images of K levels (all K^(C H W) of
 * them), for the exactness tests of pixel masking with categorical pixels.
 * An image is a string of level ids in [C, H, W] order; under pixel masking
 * (patch 1) each pixel is hidden independently with probability m(t), which
 * is token masking's likelihood, so the enumerable oracle's exact posterior
 * p(x0 | x_t) ∝ p(x0) p(x_t | x0) serves images unchanged.
 */
export interface ImageEnumerable {
  dist: Enumerable;
  /** Item shape [C, H, W]. */
  shape: [number, number, number];
  levels: number;
}

/**
 * The test distribution: all 1 x 2 x 2 images with 3 levels (81 images),
 * non-uniform and correlated (neighbours tend to share a level, dark is
 * common, the bottom row is brighter), probabilities from about 0.0003 to 0.13.
 */
export function testImages(): ImageEnumerable {
  const K = 3;
  const w = new Float64Array(K ** 4);
  for (let i = 0; i < w.length; i++) {
    const [a, b, c, d] = stringAt(K, 4, i); // a b / c d
    const same = Number(a === b) + Number(c === d) + Number(a === c) + 0.5 * Number(b === d);
    w[i] = Math.exp(0.9 * same - 0.6 * (a + d) + 0.5 * (c - b) + 0.3 * b * c - 0.8 * Number(a === 2 && d === 0));
  }
  return { dist: enumerable(K, 4, w), shape: [1, 2, 2], levels: K };
}

/** n images [n, C, H, W] (level values) drawn from the distribution. */
export function sampleImages(e: ImageEnumerable, n: number, rng: Rng): Tensor {
  const ids = sampleEnumerable(e.dist, n, rng);
  return tensor([n, ...e.shape], ids.data.map((k) => levelValue(k, e.levels)));
}

/** Counts of each of the K^(C H W) images in a batch [n, C, H, W] of level values. */
export function imageCounts(e: ImageEnumerable, x: Tensor): Float64Array {
  const L = e.dist.L;
  const counts = new Float64Array(e.dist.probs.length);
  const ids = x.data.map((v) => levelOf(v, e.levels));
  for (let b = 0; b < x.shape[0]; b++) counts[indexOf(e.levels, ids, b * L, L)]++;
  return counts;
}

/**
 * The exact q(x0 | x_t) under pixel masking with schedule m: `sample` draws
 * x0_hat from the joint posterior; `logits` gives the exact per-pixel
 * marginals log p(x0_i | x_t) [B, C, H, W, K], what a factorised network
 * (levelsDenoiser) predicts at best.
 */
export function maskedImageOracle(e: ImageEnumerable, schedule: Schedule | Destruction): Denoiser & { logits(xt: Tensor, t: number): Tensor } {
  const K = e.levels;
  const L = e.dist.L;
  const tokens = enumerableDenoiser(e.dist, masking({ vocab: K, schedule }));
  /** x_t [B, C + 1, H, W] as token strings [B, L]: a hidden pixel is [MASK] (id K). */
  const toTokens = (xt: Tensor): Tensor => {
    const B = xt.shape[0];
    const hw = e.shape[1] * e.shape[2];
    const row = L + hw;
    const out = new Float32Array(B * L);
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < L; i++) {
        const hidden = xt.data[b * row + L + (i % hw)] > 0.5;
        out[b * L + i] = hidden ? K : levelOf(xt.data[b * row + i], K);
      }
    }
    return tensor([B, L], out);
  };
  return {
    sample(xt, t, rng) {
      const x0 = tokens.sample(toTokens(xt), t, rng) as Tensor;
      return tensor([xt.shape[0], ...e.shape], x0.data.map((k) => levelValue(k, K)));
    },
    logits(xt, t) {
      return tensor([xt.shape[0], ...e.shape, K], tokens.logProbs(toTokens(xt), t));
    },
  };
}
