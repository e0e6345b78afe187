import { z } from "zod";
import { sliceBatch, type Tensor } from "../../core/tensor.js";
import { destruction, scheduleByName, type ScheduleName } from "../../core/schedule.js";
import { fashionMnist, mnist, type ImageDataset } from "../../data/mnist.js";
import { pngFolder } from "../../data/png-folder.js";
import { imageX0Denoiser, maskDenoiser, maskLevelsDenoiser } from "../../images/denoisers.js";
import { maskedLevelsObjective, maskedX0Objective, x0Objective } from "../../images/objectives.js";
import { unet } from "../../model/unet.js";
import { blurProcess, COLD_SIGMA } from "../../processes/blur.js";
import { heatProcess } from "../../processes/heat.js";
import { pixelMaskProcess, unmasked } from "../../processes/pixel-mask.js";
import { frechetScale, loadClassifier, reference, sampleQuality, type Classifier, type Reference } from "../../images/classifier.js";
import { imageColumns, imageGrid } from "../../viz/image-grid.js";
import { bool, choice, int, positive, text, UsageError } from "../options.js";
import { registerData, registerNetwork, registerProcess, type DataEntry, type DataSet, type ProcessSetup } from "../registry.js";

/**
 * Image entries: data (mnist, fashion, png:<folder>), processes (blur, heat,
 * mask; gaussian is in gaussian.ts and accepts images) and the UNet.
 * Images are [C, H, W] items in [-1, 1].
 */

export interface ImageDataOptions {
  /** The project's classifier for `udm eval` (models/classifier-<name>). */
  classifier?: string;
  /** Class ids of the training images (for class-conditional training; not kept in a checkpoint). */
  labels?: Float32Array;
  classNames?: readonly string[];
}

/** An image DataSet from its images; the class names are its saved state (what --class needs to sample). */
export function imageDataSet(name: string, train: Tensor, heldOut: Tensor, opts: ImageDataOptions = {}): DataSet {
  const C = train.shape[1];
  const { classifier, labels, classNames } = opts;
  let clf: Classifier | undefined;
  let ref: Reference | undefined;
  return {
    kind: "image",
    name,
    train,
    heldOut,
    // One class (a PNG folder) is no label at all.
    ...(classNames && classNames.length > 1 ? { labels, classNames, state: { classNames: [...classNames] } } : {}),
    picture: (samples, title) => imageGrid(samples, { title, channels: C, cols: Math.min(16, Math.ceil(Math.sqrt(samples.shape[0]))) }),
    trajectory: (snapshots) => imageColumns(snapshots.map((s) => ({ label: `t=${s.t.toFixed(2)}`, x: s.x })), { rows: 8, channels: C }),
    // MNIST / Fashion-MNIST: the project's classifier scores samples against the held-out (test)
    // images, with the floor (as many training images) and ceiling (uniform noise) at the same n.
    metrics: classifier
      ? async (samples) => {
          clf ??= loadClassifier(classifier);
          ref ??= await reference(clf, heldOut);
          const q = await sampleQuality(clf, samples, ref);
          const scale = await frechetScale(clf, train, ref, samples.shape[0]);
          return { classifierFrechet: q.frechet, classifierFrechetFloor: scale.floor, classifierFrechetCeiling: scale.ceiling, classEntropy: q.entropy };
        }
      : undefined,
  };
}

/** The DataSet of a labelled image set (its train and test splits). */
function labelled(name: string, train: ImageDataset, test: ImageDataset, classifier?: string): DataSet {
  return imageDataSet(name, train.images, test.images, { classifier, labels: Float32Array.from(train.labels), classNames: train.classes });
}

/** The same DataSet from a checkpoint's reference rows and saved class names. */
function restored(name: string, classifier?: string): NonNullable<DataEntry["restore"]> {
  return ({ train, heldOut, state }) => {
    const names = state?.classNames;
    if (names !== undefined && !(Array.isArray(names) && names.every((c) => typeof c === "string"))) {
      throw new Error(`the checkpoint's image data state "classNames" must be a list of names, got ${JSON.stringify(names)}`);
    }
    return imageDataSet(name, train, heldOut, { classifier, classNames: names as string[] | undefined });
  };
}

registerData({
  name: "mnist",
  kind: "image",
  description: "MNIST digits, 1 x 28 x 28 (first --train-rows of the training set; held-out rows from the test set)",
  load: ({ n, heldOut }) => labelled("mnist", mnist({ limit: n }), mnist({ split: "test", limit: heldOut }), "mnist"),
  restore: restored("mnist", "mnist"),
});

registerData({
  name: "fashion",
  kind: "image",
  description: "Fashion-MNIST, 1 x 28 x 28 (needs `apt-get install dataset-fashion-mnist`)",
  load: ({ n, heldOut }) => labelled("fashion", fashionMnist({ limit: n }), fashionMnist({ split: "test", limit: heldOut }), "fashion"),
  restore: restored("fashion", "fashion"),
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
    return imageDataSet(`png:${arg}`, sliceBatch(all.images, m, N), sliceBatch(all.images, 0, m));
  },
  restore: ({ arg, train, heldOut }) => imageDataSet(`png:${arg}`, train, heldOut),
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
      { key: "noise", flag: "--noise <schedule>", description: "a Gaussian noise schedule instead of --sigma: x_t = a(t) B_t(x0) + b(t) eps (blurring diffusion): cosine, linear-beta, log-snr (default: none, the constant sigma)" },
      { key: "loss", flag: "--loss <name>", description: "l1 (Laplace q, Cold Diffusion) or mse on x0 (default l1)" },
    ],
    options: z.object({ sigma: positive().optional(), noise: choice(["none", "cosine", "linear-beta", "log-snr"]).default("none"), loss: choice(["l1", "mse"]).default("l1") }),
    build(o: { sigma?: number; noise: "none" | Exclude<ScheduleName, "ve">; loss: "l1" | "mse" }, data): ProcessSetup {
      if (o.noise !== "none" && o.sigma !== undefined) throw new UsageError(`--sigma and --noise ${o.noise} both set the noise of ${name}: give one`);
      const noise = o.noise === "none" ? { sigma: o.sigma ?? COLD_SIGMA } : { noiseSchedule: scheduleByName(o.noise) };
      const process = (name === "blur" ? blurProcess : heatProcess)({ ...noise, data: data.train });
      return {
        process,
        objective: x0Objective(o.loss),
        output: { kind: "same" },
        denoiser: (network, params, cond) => imageX0Denoiser(network, params, { cond }),
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
  description: "pixel masking of images (also --process mask on image data): pixels (or --patch square patches) hidden with probability m(t); the net sees image + mask channel and predicts a categorical over --levels pixel levels",
  kinds: ["image"],
  flags: [
    { key: "patch", flag: "--patch <n>", description: "side of the square patches hidden together (default 1: single pixels)" },
    { key: "maskSchedule", flag: "--mask-schedule <name>", description: "m(t): linear or cosine (default linear)" },
    { key: "levels", flag: "--levels <k>", description: "pixel levels of the categorical q(x0 | x_t), 2..256; 0 = a point mass at the mean (MSE), which paints blur (default 16)" },
  ],
  options: z.object({ patch: int(1, 64).default(1), maskSchedule: choice(["linear", "cosine"]).default("linear"), levels: int(0, 256).default(16) }),
  build(o: { patch: number; maskSchedule: "linear" | "cosine"; levels: number }, data): ProcessSetup {
    if (o.levels === 1) throw new UsageError("--levels must be 0 (a point mass) or 2..256, got 1");
    const K = o.levels || undefined;
    const process = pixelMaskProcess({ patch: o.patch, schedule: destruction[o.maskSchedule](), levels: K });
    const [C, H, W] = itemShape(data);
    return {
      process,
      objective: K ? maskedLevelsObjective(K) : maskedX0Objective("mse"),
      // The input has the mask channel too: C + 1 channels in; C out, or C categoricals over K levels.
      inputShape: [C + 1, H, W],
      output: K ? { kind: "logits", vocab: K } : { kind: "same" },
      denoiser: (network, params, cond) => (K ? maskLevelsDenoiser(network, params, K, { cond }) : maskDenoiser(network, params, { cond })),
      start: startFromPrior(process),
      finish: unmasked,
      inpaint: "reveal",
    };
  },
});

registerNetwork({
  name: "unet",
  description: "small time-conditioned UNet (im2col convolutions, group norm, attention at the lowest resolution), optionally class-conditional",
  kinds: ["image"],
  flags: [
    { key: "channels", flag: "--channels <list>", description: "UNet channels per level, finest first (default 8,16,32)" },
    { key: "attention", flag: "--attention <bool>", description: "UNet self-attention at the lowest resolution (default true)" },
    { key: "conditional", flag: "--conditional", description: "UNet: condition on the class label (labelled data), for `udm sample --class` and --guidance" },
  ],
  options: z.object({ channels: text("a comma-separated list of channel counts").default("8,16,32"), attention: bool().default(true), conditional: bool().default(false) }),
  build(o: { channels: string; attention: boolean; conditional: boolean }, spec) {
    const channels = o.channels.split(",").map((s) => Number(s.trim()));
    if (!channels.every((c) => Number.isInteger(c) && c > 0)) throw new UsageError(`--channels must be a comma-separated list of positive integers, got ${JSON.stringify(o.channels)}`);
    if (spec.itemShape.length !== 3) throw new Error(`unet: needs image items [C, H, W], got [${spec.itemShape.join(", ")}]`);
    if (o.conditional && !spec.classes) throw new UsageError("--conditional needs labelled data (mnist, fashion); this data set has no classes");
    const levels = spec.output.kind === "logits" ? spec.output.vocab : undefined;
    return unet({
      inChannels: (spec.inputShape ?? spec.itemShape)[0],
      outChannels: spec.itemShape[0],
      channels,
      attention: o.attention,
      classes: o.conditional ? spec.classes : undefined,
      levels,
    });
  },
});
