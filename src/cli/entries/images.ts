import { z } from "zod";
import type { Tensor } from "../../core/tensor.js";
import { destruction } from "../../core/schedule.js";
import { fashionMnist, mnist, type ImageDataset } from "../../data/mnist.js";
import { pngFolder } from "../../data/png-folder.js";
import { imageX0Denoiser, maskDenoiser } from "../../images/denoisers.js";
import { maskedX0Objective, x0Objective } from "../../images/objectives.js";
import { unet } from "../../model/unet.js";
import { blurProcess, COLD_SIGMA } from "../../processes/blur.js";
import { heatProcess } from "../../processes/heat.js";
import { pixelMaskProcess, unmasked } from "../../processes/pixel-mask.js";
import { loadClassifier, sampleQuality, type Classifier } from "../../images/classifier.js";
import { imageColumns, imageGrid } from "../../viz/image-grid.js";
import { bool, choice, int, positive, text, UsageError } from "../options.js";
import { registerData, registerNetwork, registerProcess, type DataSet, type ProcessSetup } from "../registry.js";

/**
 * Image entries: data (mnist, fashion, png:<folder>), processes (blur, heat,
 * mask; gaussian is in gaussian.ts and accepts images) and the UNet.
 * Images are [C, H, W] items in [-1, 1].
 */

export function imageDataSet(name: string, train: ImageDataset, heldOut: ImageDataset, classifier?: string): DataSet {
  const C = train.images.shape[1];
  let clf: Classifier | undefined;
  return {
    kind: "image",
    name,
    train: train.images,
    heldOut: heldOut.images,
    picture: (samples, title) => imageGrid(samples, { title, channels: C, cols: Math.min(16, Math.ceil(Math.sqrt(samples.shape[0]))) }),
    trajectory: (snapshots) => imageColumns(snapshots.map((s) => ({ label: `t=${s.t.toFixed(2)}`, x: s.x })), { rows: 8, channels: C }),
    // MNIST / Fashion-MNIST: the project's classifier scores samples against the held-out (test) images.
    metrics: classifier
      ? async (samples) => {
          clf ??= loadClassifier(classifier);
          const q = await sampleQuality(clf, samples, heldOut.images);
          return { classifierFrechet: q.frechet, classEntropy: q.entropy };
        }
      : undefined,
  };
}

registerData({
  name: "mnist",
  kind: "image",
  description: "MNIST digits, 1 x 28 x 28 (first --train-rows of the training set; held-out rows from the test set)",
  load: ({ n, heldOut }) => imageDataSet("mnist", mnist({ limit: n }), mnist({ split: "test", limit: heldOut }), "mnist"),
});

registerData({
  name: "fashion",
  kind: "image",
  description: "Fashion-MNIST, 1 x 28 x 28 (needs `apt-get install dataset-fashion-mnist`)",
  load: ({ n, heldOut }) => imageDataSet("fashion", fashionMnist({ limit: n }), fashionMnist({ split: "test", limit: heldOut }), "fashion"),
});

registerData({
  name: "png",
  arg: "folder",
  kind: "image",
  description: "a folder of PNG files, grey, at their own (common) size; a fifth (at most --held-out) is held out",
  load: ({ arg, heldOut }) => {
    const all = pngFolder(arg!);
    const N = all.images.shape[0];
    if (N < 2) throw new Error(`png:${arg}: needs at least 2 images (train + held-out), has ${N}`);
    const m = Math.max(1, Math.min(heldOut, Math.floor(N / 5)));
    const split = (a: number, b: number): ImageDataset => {
      const d = all.images.data.length / N;
      return { ...all, images: { shape: [b - a, ...all.images.shape.slice(1)], data: all.images.data.slice(a * d, b * d) }, labels: all.labels.slice(a, b) };
    };
    return imageDataSet(`png:${arg}`, split(m, N), split(0, m));
  },
});

const itemShape = (data: DataSet) => data.train.shape.slice(1);
const startFromPrior = (process: ProcessSetup["process"]) => (n: number, rng: Parameters<NonNullable<ProcessSetup["start"]>>[1], data: DataSet): Tensor =>
  process.prior([n, ...itemShape(data)], rng);

function blurEntry(name: "blur" | "heat", description: string) {
  registerProcess({
    name,
    description,
    kinds: ["image"],
    flags: [
      { key: "sigma", flag: "--sigma <x>", description: `noise std after the blur: tiny = cold, e.g. 0.05 = hot (default ${COLD_SIGMA})` },
      { key: "loss", flag: "--loss <name>", description: "l1 (Laplace q, Cold Diffusion) or mse on x0 (default l1)" },
    ],
    options: z.object({ sigma: positive().default(COLD_SIGMA), loss: choice(["l1", "mse"]).default("l1") }),
    build(o: { sigma: number; loss: "l1" | "mse" }, data): ProcessSetup {
      const process = (name === "blur" ? blurProcess : heatProcess)({ sigma: o.sigma, data: data.train });
      return {
        process,
        objective: x0Objective(o.loss),
        output: { kind: "same" },
        denoiser: (network, params) => imageX0Denoiser(network, params),
        start: startFromPrior(process),
      };
    },
  });
}

blurEntry("blur", "Gaussian blur of growing width + sigma noise (Cold Diffusion; starts from F_1 of data)");
blurEntry("heat", "heat dissipation in the DCT basis + sigma noise (Rissanen et al.; starts from F_1 of data)");

registerProcess({
  name: "pixel-mask",
  aliases: ["mask"],
  description: "pixel masking of images (also --process mask on image data): pixels (or --patch square patches) hidden with probability m(t); the net sees image + mask channel",
  kinds: ["image"],
  flags: [
    { key: "patch", flag: "--patch <n>", description: "side of the square patches hidden together (default 1: single pixels)" },
    { key: "maskSchedule", flag: "--mask-schedule <name>", description: "m(t): linear or cosine (default linear)" },
  ],
  options: z.object({ patch: int(1, 64).default(1), maskSchedule: choice(["linear", "cosine"]).default("linear") }),
  build(o: { patch: number; maskSchedule: "linear" | "cosine" }, data): ProcessSetup {
    const process = pixelMaskProcess({ patch: o.patch, schedule: destruction[o.maskSchedule]() });
    const C = itemShape(data)[0];
    return {
      process,
      objective: maskedX0Objective("mse"),
      output: { kind: "same" },
      denoiser: (network, params) => maskDenoiser(network, params),
      start: startFromPrior(process),
      finish: unmasked,
      // The input has the mask channel too: C + 1 channels in, C out (default UNet size).
      network: () => unet({ inChannels: C + 1, outChannels: C }),
    };
  },
});

registerNetwork({
  name: "unet",
  description: "small time-conditioned UNet (im2col convolutions, group norm, attention at the lowest resolution)",
  kinds: ["image"],
  flags: [
    { key: "channels", flag: "--channels <list>", description: "UNet channels per level, finest first (default 8,16,32)" },
    { key: "attention", flag: "--attention <bool>", description: "UNet self-attention at the lowest resolution (default true)" },
  ],
  options: z.object({ channels: text("a comma-separated list of channel counts").default("8,16,32"), attention: bool().default(true) }),
  build(o: { channels: string; attention: boolean }, spec) {
    if (spec.output.kind !== "same") throw new Error(`unet: outputs images only, but the process needs ${spec.output.kind}`);
    const channels = o.channels.split(",").map((s) => Number(s.trim()));
    if (!channels.every((c) => Number.isInteger(c) && c > 0)) throw new UsageError(`--channels must be a comma-separated list of positive integers, got ${JSON.stringify(o.channels)}`);
    if (spec.itemShape.length !== 3) throw new Error(`unet: needs image items [C, H, W], got [${spec.itemShape.join(", ")}]`);
    return unet({ inChannels: spec.itemShape[0], channels, attention: o.attention });
  },
});
