import type { Denoiser } from "../../src/core/denoiser.js";
import type { Process } from "../../src/core/process.js";
import { cosine, destruction } from "../../src/core/schedule.js";
import type { Tensor } from "../../src/core/tensor.js";
import { imageX0Denoiser, maskDenoiser, maskLevelsDenoiser } from "../../src/images/denoisers.js";
import { maskedLevelsObjective, maskedX0Objective, x0Objective } from "../../src/images/objectives.js";
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
import { gaussianDenoiser, type ClassCondition } from "../../src/train/network-denoiser.js";
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
  /** Class-conditional (labels 0..classes-1, null label = classes) for class picking and guidance. */
  classes?: number;
  /** Pixel masking: a categorical q(x0 | x_t) over this many pixel levels (absent: the mean, MSE). */
  levels?: number;
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
  /** The denoiser around trained weights; `cond` picks the class (and guidance) of a class-conditional model. */
  denoiser(params: Params, cond?: ClassCondition): Denoiser & { dispose(): void };
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
  const { channels, classes, levels } = spec;
  const net = (inChannels: number, outLevels?: number) => unet({ inChannels, outChannels: 1, channels, classes, levels: outLevels });
  const id = (x: Tensor) => x;
  const coldHot: [string, number][] = [["r = 0 (cold, deterministic)", 0], ["r = 1 (fresh noise)", 1]];
  switch (spec.recipe) {
    case "gaussian": {
      const p = gaussian(cosine());
      return {
        label: "Gaussian noise (cosine, v)", process: p, objective: gaussianObjective(p, "v"), network: net(1),
        denoiser: (w, cond) => gaussianDenoiser(net(1), w, p, "v", { clip: 1, cond }), finish: id, revealKnown: false,
        presets: [["DDIM (r = 0)", 0], ["DDPM (r = 1)", 1]],
      };
    }
    case "blur":
    case "heat": {
      const process = (spec.recipe === "blur" ? blurProcess : heatProcess)({ sigma: spec.recipe === "blur" ? COLD_SIGMA : HOT_SIGMA, data });
      return {
        label: spec.recipe === "blur" ? `blur (cold, sigma ${COLD_SIGMA}, L1)` : `heat dissipation (hot, sigma ${HOT_SIGMA}, L1)`, process, objective: x0Objective("l1"),
        network: net(1), denoiser: (w, cond) => imageX0Denoiser(net(1), w, { cond }), finish: id, revealKnown: false, presets: coldHot,
      };
    }
    case "pixel-mask":
      return {
        label: levels ? `pixel masking (linear m, categorical over ${levels} levels)` : "pixel masking (linear m, mean)",
        process: pixelMaskProcess({ schedule: destruction.linear(), levels }),
        objective: levels ? maskedLevelsObjective(levels) : maskedX0Objective("mse"),
        network: net(2, levels),
        denoiser: (w, cond) => (levels ? maskLevelsDenoiser(net(2, levels), w, levels, { cond }) : maskDenoiser(net(2), w, { cond })),
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
