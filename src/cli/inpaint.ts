import { existsSync, statSync } from "node:fs";
import { gatherBatch, type Tensor } from "../core/tensor.js";
import { pngFiles, pngFolder } from "../data/png-folder.js";
import { inpaint, maskFromImage, regionMask, REGIONS, showHidden, type Region } from "../images/inpaint.js";
import { imageColumns } from "../viz/image-grid.js";
import { UsageError } from "./options.js";
import { samplerSetup, samplingSteps, type Model, type SampleRequest } from "./pipeline.js";

/**
 * `udm sample --inpaint IMAGES --mask MASK`: complete the unknown pixels of
 * given images with a trained image model (src/images/inpaint.ts). IMAGES is
 * a PNG file or a folder of PNGs (resized to the model's size); MASK a PNG
 * whose light pixels are the ones to fill, or a named region (left, right,
 * top, bottom, centre). Writes inpaint.png: one row per input, its known
 * pixels, then `perImage` completions.
 */
export interface InpaintRequest extends SampleRequest {
  images: string;
  mask: string;
  /** Completions per input image. */
  perImage: number;
}

export interface InpaintResult {
  /** The completions [inputs * perImage, C, H, W], input by input. */
  samples: Tensor;
  picture: ReturnType<typeof imageColumns>;
  label: string;
  seconds: number;
}

export async function inpaintImages(m: Model, req: InpaintRequest): Promise<InpaintResult> {
  const how = m.setup.inpaint;
  if (!how) throw new UsageError(`--inpaint: process ${m.spec.process.name} does not inpaint (gaussian and pixel-mask do)`);
  if (m.data.kind !== "image") throw new UsageError(`--inpaint needs an image model, this one models ${m.data.kind} data`);
  const [C, H, W] = m.data.train.shape.slice(1);
  const images = readImages(req.images, "--inpaint", C, H, W);
  const mask = (REGIONS as readonly string[]).includes(req.mask) ? regionMask(req.mask as Region, H, W) : maskFromImage(readImages(req.mask, "--mask", 1, H, W));
  if (mask.shape[0] !== 1) throw new UsageError(`--mask: give one mask image, ${req.mask} holds ${mask.shape[0]}`);
  const R = images.shape[0], k = req.perImage;
  // Input i fills rows i*k .. i*k + k - 1.
  const known = gatherBatch(images, Uint32Array.from({ length: R * k }, (_, j) => Math.floor(j / k)));
  const { grid, r, denoiser, label, rng } = await samplerSetup(m, req);
  const t0 = performance.now();
  const raw = await inpaint({ process: m.setup.process, denoiser, known, mask, grid, r, rng, x1: m.setup.start?.(R * k, rng, m.data), revealKnown: how === "reveal" });
  const samples = m.setup.finish ? m.setup.finish(raw) : raw;
  const seconds = (performance.now() - t0) / 1000;
  const columns = [
    { label: "input", x: images },
    { label: "known", x: showHidden(images, mask) },
    ...Array.from({ length: k }, (_, j) => ({ label: `${j + 1}`, x: gatherBatch(samples, Uint32Array.from({ length: R }, (_, i) => i * k + j)) })),
  ];
  const picture = imageColumns(columns, { channels: C, title: `inpainting (${req.mask}), ${label}, ${samplingSteps(m, req)} steps` });
  return { samples, picture, label, seconds };
}

/** A PNG file or a folder of PNGs at the model's size, as images [N, C, H, W]. */
function readImages(path: string, flag: string, C: number, H: number, W: number): Tensor {
  if (!existsSync(path)) {
    const regions = flag === "--mask" ? ` or a region (${REGIONS.join(", ")})` : "";
    throw new UsageError(`${flag}: ${path} does not exist (give a PNG file or a folder of PNGs${regions})`);
  }
  const opts = { channels: C as 1 | 3, size: H === W ? H : undefined };
  let x: Tensor;
  try {
    x = (statSync(path).isDirectory() ? pngFolder(path, opts) : pngFiles([path], opts)).images;
  } catch (e) {
    throw new UsageError(`${flag}: ${(e as Error).message}`);
  }
  if (x.shape[2] !== H || x.shape[3] !== W) throw new UsageError(`${flag}: ${path} is ${x.shape[3]}x${x.shape[2]}, the model draws ${W}x${H}`);
  return x;
}
