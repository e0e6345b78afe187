import type { Denoiser } from "../../src/core/denoiser.js";
import type { Process } from "../../src/core/process.js";
import { cosine, destruction } from "../../src/core/schedule.js";
import type { Tensor } from "../../src/core/tensor.js";
import { imageX0Denoiser, maskDenoiser } from "../../src/images/denoisers.js";
import { maskedX0Objective, x0Objective } from "../../src/images/objectives.js";
import { transformer } from "../../src/model/transformer.js";
import { unet } from "../../src/model/unet.js";
import { blurProcess, COLD_SIGMA, HOT_SIGMA } from "../../src/processes/blur.js";
import { gaussian } from "../../src/processes/gaussian.js";
import { heatProcess } from "../../src/processes/heat.js";
import { masking } from "../../src/processes/masking.js";
import { pixelMaskProcess, unmasked } from "../../src/processes/pixel-mask.js";
import { replacement } from "../../src/processes/replacement.js";
import type { TokenProcess } from "../../src/processes/tokens.js";
import { categoricalDenoiser, networkCategorical } from "../../src/text/denoiser.js";
import { tokenObjective } from "../../src/text/objective.js";
import { gaussianDenoiser } from "../../src/train/network-denoiser.js";
import { gaussianObjective } from "../../src/train/objectives.js";
import type { Network, Objective, Params } from "../../src/train/types.js";

/**
 * The shipped models of the playground, as recipes: the same function
 * builds the process, objective, network and denoiser when bench/web-models.ts
 * trains a model in Node and when the page loads its weights. A model file
 * (web/public/models/NAME.json) names its recipe and options; the weights
 * sit beside it in NAME.safetensors (EMA weights only).
 */

export type ImageRecipe = "gaussian" | "heat" | "blur" | "pixel-mask";
export type TextRecipe = "mask" | "replace";

export interface ImageSpec {
  kind: "image";
  recipe: ImageRecipe;
  /** UNet channels per level, finest first. */
  channels: number[];
}

export interface TextSpec {
  kind: "text";
  recipe: TextRecipe;
  /** The vocabulary: token id i is chars[i]. */
  chars: string[];
  /** Sequence length. */
  length: number;
  dim: number;
  layers: number;
  heads: number;
}

/** A model file: what it is, how it was trained, and its recipe. */
export interface ModelFile {
  name: string;
  title: string;
  spec: ImageSpec | TextSpec;
  training: { steps: number; seconds: number; batchSize: number; lr: number; data: string };
  /** The command that trained it. */
  command: string;
}

export interface Setup {
  label: string;
  process: Process<Tensor, Tensor>;
  objective: Objective<Tensor, Tensor>;
  network: Network;
  denoiser(params: Params): Denoiser & { dispose(): void };
  /** Drop extra channels of x (pixel masking's mask channel) from a sample. */
  finish(x: Tensor): Tensor;
  /** Inpainting also reveals the known pixels in x_t (pixel masking). */
  revealKnown: boolean;
  /** Presets of the kernel r: [label, r]. */
  presets: [string, number][];
}

/**
 * An image model on [N, 1, 28, 28] data in [-1, 1]. `data` is needed by
 * blur and heat, whose prior is F_1 of data rows (it keeps the mean colour).
 */
export function imageSetup(spec: ImageSpec, data: Tensor): Setup {
  const channels = spec.channels;
  const id = (x: Tensor) => x;
  const coldHot: [string, number][] = [["r = 0 (cold, deterministic)", 0], ["r = 1 (fresh noise)", 1]];
  switch (spec.recipe) {
    case "gaussian": {
      const p = gaussian(cosine());
      return {
        label: "Gaussian noise (cosine, v)", process: p, objective: gaussianObjective(p, "v"), network: unet({ inChannels: 1, channels }),
        denoiser: (w) => gaussianDenoiser(unet({ inChannels: 1, channels }), w, p, "v", { clip: 1 }), finish: id, revealKnown: false,
        presets: [["DDIM (r = 0)", 0], ["DDPM (r = 1)", 1]],
      };
    }
    case "blur":
      return {
        label: `blur (cold, sigma ${COLD_SIGMA}, L1)`, process: blurProcess({ sigma: COLD_SIGMA, data }), objective: x0Objective("l1"),
        network: unet({ inChannels: 1, channels }), denoiser: (w) => imageX0Denoiser(unet({ inChannels: 1, channels }), w), finish: id, revealKnown: false, presets: coldHot,
      };
    case "heat":
      return {
        label: `heat dissipation (hot, sigma ${HOT_SIGMA}, L1)`, process: heatProcess({ sigma: HOT_SIGMA, data }), objective: x0Objective("l1"),
        network: unet({ inChannels: 1, channels }), denoiser: (w) => imageX0Denoiser(unet({ inChannels: 1, channels }), w), finish: id, revealKnown: false, presets: coldHot,
      };
    case "pixel-mask":
      return {
        label: "pixel masking (linear m)", process: pixelMaskProcess({ schedule: destruction.linear() }), objective: maskedX0Objective("mse"),
        network: unet({ inChannels: 2, outChannels: 1, channels }), denoiser: (w) => maskDenoiser(unet({ inChannels: 2, outChannels: 1, channels }), w),
        finish: unmasked, revealKnown: true, presets: [["r = 0 (reveal by the schedule)", 0], ["r = 1", 1]],
      };
  }
}

/** A character model: masking (absorbing) or uniform replacement, Transformer, categorical denoiser. */
export function textSetup(spec: TextSpec): Setup & { maskId: number | null } {
  const V = spec.chars.length;
  const process: TokenProcess<unknown> = spec.recipe === "mask" ? masking({ vocab: V, schedule: destruction.linear() }) : replacement({ vocab: V, variant: "uniform", schedule: destruction.linear() });
  const net = () => transformer({ vocab: V, inputVocab: V + 1, length: spec.length, dim: spec.dim, layers: spec.layers, heads: spec.heads });
  return {
    label: spec.recipe === "mask" ? "masking (absorbing), linear m" : "uniform replacement, linear m",
    process: process as unknown as Process<Tensor, Tensor>,
    objective: tokenObjective(process) as unknown as Objective<Tensor, Tensor>,
    network: net(),
    denoiser(params) {
      const model = networkCategorical(net(), params);
      return Object.assign(categoricalDenoiser(model, { maskId: process.maskId, changedRange: process.changedRange }), { dispose: () => model.dispose() });
    },
    finish: (x) => x,
    revealKnown: false,
    presets: [["r = 0 (MDLM)", 0], ["r = 1", 1]],
    maskId: process.maskId,
  };
}
