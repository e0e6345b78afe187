import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { PNG } from "pngjs";
import { tensor } from "../core/tensor.js";
import type { ImageDataset } from "./mnist.js";

export interface PngFolderOptions {
  /** 1 (grey, luminance 0.299 R + 0.587 G + 0.114 B) or 3 (RGB). Default 1. */
  channels?: 1 | 3;
  /**
   * Resize every image to size x size by area averaging (box filter), or
   * keep the files' size (then all files must share one size). Default: keep.
   */
  size?: number;
  /** Keep only the first `limit` files (sorted by name). */
  limit?: number;
}

/**
 * A folder of PNG files as an image data set [N, C, H, W] in [-1, 1].
 * Transparent pixels are composited over white. Labels are all 0 (one class).
 * A file that does not decode, or (without `size`) has a different size from
 * the first file, is named in the error.
 */
export function pngFolder(dir: string, opts: PngFolderOptions = {}): ImageDataset {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new Error(`png folder: ${dir} is not a folder`);
  let files = readdirSync(dir).filter((f) => f.toLowerCase().endsWith(".png")).sort();
  if (files.length === 0) throw new Error(`png folder: ${dir} holds no .png files`);
  if (opts.limit !== undefined) files = files.slice(0, opts.limit);
  return { ...pngFiles(files.map((f) => join(dir, f)), opts), name: `png:${dir}` };
}

/** PNG files as images [N, C, H, W] in [-1, 1] (options as pngFolder's, without limit); labels all 0. */
export function pngFiles(paths: readonly string[], opts: Omit<PngFolderOptions, "limit"> = {}): ImageDataset {
  const channels = opts.channels ?? 1;
  if (channels !== 1 && channels !== 3) throw new Error(`png folder: channels must be 1 or 3, got ${channels}`);
  if (opts.size !== undefined && !(Number.isInteger(opts.size) && opts.size > 0)) {
    throw new Error(`png folder: size must be a positive integer, got ${opts.size}`);
  }
  const decoded = paths.map((path) => {
    if (!existsSync(path)) throw new Error(`png: ${path} does not exist`);
    try {
      return { path, png: PNG.sync.read(readFileSync(path)) };
    } catch (e) {
      throw new Error(`png folder: cannot decode ${path} (${(e as Error).message})`);
    }
  });
  const h = opts.size ?? decoded[0].png.height;
  const w = opts.size ?? decoded[0].png.width;
  if (opts.size === undefined) {
    for (const { path, png } of decoded) {
      if (png.width !== w || png.height !== h) {
        throw new Error(
          `png folder: ${path} is ${png.width}x${png.height} but ${decoded[0].path} is ${w}x${h}; ` +
            `all images must share one size: resize them to one size first (from code: pngFolder(dir, { size }))`,
        );
      }
    }
  }
  const item = channels * h * w;
  const out = new Float32Array(decoded.length * item);
  decoded.forEach(({ png }, n) => {
    const rgb = resizeRgb(toRgb(png), png.width, png.height, w, h);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const o = 3 * (y * w + x);
        if (channels === 1) {
          const lum = 0.299 * rgb[o] + 0.587 * rgb[o + 1] + 0.114 * rgb[o + 2];
          out[n * item + y * w + x] = (lum * 2) / 255 - 1;
        } else {
          for (let c = 0; c < 3; c++) out[n * item + c * h * w + y * w + x] = (rgb[o + c] * 2) / 255 - 1;
        }
      }
    }
  });
  return { name: `png:${paths.join(",")}`, images: tensor([decoded.length, channels, h, w], out), labels: new Uint8Array(decoded.length), classes: ["image"] };
}

/** RGBA (pngjs always decodes to RGBA 8-bit) -> RGB composited over white. */
function toRgb(png: PNG): Float64Array {
  const n = png.width * png.height;
  const out = new Float64Array(3 * n);
  for (let i = 0; i < n; i++) {
    const a = png.data[4 * i + 3] / 255;
    for (let c = 0; c < 3; c++) out[3 * i + c] = png.data[4 * i + c] * a + 255 * (1 - a);
  }
  return out;
}

/** Area-average resize: each output pixel averages the source area it covers (exact for integer factors). */
function resizeRgb(src: Float64Array, sw: number, sh: number, dw: number, dh: number): Float64Array {
  if (sw === dw && sh === dh) return src;
  const out = new Float64Array(3 * dw * dh);
  const fx = sw / dw, fy = sh / dh;
  for (let y = 0; y < dh; y++) {
    const y0 = y * fy, y1 = (y + 1) * fy;
    for (let x = 0; x < dw; x++) {
      const x0 = x * fx, x1 = (x + 1) * fx;
      let total = 0;
      const acc = [0, 0, 0];
      for (let sy = Math.floor(y0); sy < Math.min(Math.ceil(y1), sh); sy++) {
        const wy = Math.min(y1, sy + 1) - Math.max(y0, sy);
        for (let sx = Math.floor(x0); sx < Math.min(Math.ceil(x1), sw); sx++) {
          const wgt = wy * (Math.min(x1, sx + 1) - Math.max(x0, sx));
          const o = 3 * (sy * sw + sx);
          for (let c = 0; c < 3; c++) acc[c] += wgt * src[o + c];
          total += wgt;
        }
      }
      for (let c = 0; c < 3; c++) out[3 * (y * dw + x) + c] = acc[c] / total;
    }
  }
  return out;
}
