import type { Denoiser } from "../core/denoiser.js";
import type { Process, Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import { sample, type RSchedule, type StepInfo } from "../core/sampler.js";
import { tensor, type Tensor } from "../core/tensor.js";

/**
 * Inpainting: sample images whose known pixels are fixed. It wraps the
 * denoiser and the process; the one sampler runs unchanged.
 *
 * 1. Denoiser: x0_hat gets the known pixels written over it, so every
 *    correction step uses x0_hat = (known where known, prediction elsewhere).
 *    For the Gaussian process this makes the known region of x_s equal
 *    F_s(x_known, eps') with eps' the kernel of the posterior noise there,
 *    i.e. RePaint (Lugmayr et al. 2022) without resampling, and x_0 shows the
 *    known pixels exactly (F_0 is the identity).
 * 2. Pixel masking: the known pixels are also made visible in every x_t
 *    (from x_1 on), so the network sees them from the start; their posterior
 *    noise is then U[m(t), 1) and they stay visible.
 *
 * known: [B, C, H, W] images; mask: [B, 1, H, W] or [1, 1, H, W], 1 = known.
 */
export interface InpaintOptions {
  process: Process<Tensor, Tensor>;
  denoiser: Denoiser;
  known: Tensor;
  mask: Tensor;
  grid: readonly number[];
  r: RSchedule;
  rng: Rng;
  /** The process's start (required for data-dependent priors); default process.prior. */
  x1?: Tensor;
  /** The process is pixel masking (x_t = image + mask channel): reveal known pixels in x_t. */
  revealKnown?: boolean;
  onStep?: (info: StepInfo<Tensor>) => void | Promise<void>;
}

function checkShapes(known: Tensor, mask: Tensor): void {
  if (known.shape.length !== 4) throw new Error(`inpaint: known images must be [B, C, H, W], got [${known.shape.join(", ")}]`);
  const [B, , H, W] = known.shape;
  const [mb, mc, mh, mw] = mask.shape;
  if (mask.shape.length !== 4 || mc !== 1 || mh !== H || mw !== W || (mb !== B && mb !== 1)) {
    throw new Error(`inpaint: mask must be [${B} or 1, 1, ${H}, ${W}], got [${mask.shape.join(", ")}]`);
  }
}

const maskAt = (mask: Tensor, b: number, i: number, hw: number) => mask.data[(mask.shape[0] === 1 ? 0 : b) * hw + i] > 0.5;

/** x with the known pixels written in (x has C channels, or C + 1 with a mask channel when `reveal`). */
export function pasteKnown(x: Tensor, known: Tensor, mask: Tensor, reveal = false): Tensor {
  const [B, C, H, W] = known.shape;
  const hw = H * W;
  const Cx = x.shape[1];
  if (Cx !== C + (reveal ? 1 : 0)) throw new Error(`inpaint: x has ${Cx} channels, expected ${C + (reveal ? 1 : 0)}`);
  const out = Float32Array.from(x.data);
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < hw; i++) {
      if (!maskAt(mask, b, i, hw)) continue;
      for (let c = 0; c < C; c++) out[(b * Cx + c) * hw + i] = known.data[(b * C + c) * hw + i];
      if (reveal) out[(b * Cx + C) * hw + i] = 0;
    }
  }
  return tensor(x.shape, out);
}

export async function inpaint(opts: InpaintOptions): Promise<Tensor> {
  const { known, mask, process } = opts;
  checkShapes(known, mask);
  const reveal = opts.revealKnown ?? false;
  const denoiser: Denoiser = {
    sample: async (xt, t, rng) => pasteKnown(await opts.denoiser.sample(xt, t, rng), known, mask),
  };
  const wrapped: Process<Tensor, Tensor> = reveal
    ? { ...process, forward: (x0: Tensor, t: Time, eps: Tensor) => pasteKnown(process.forward(x0, t, eps), known, mask, true) }
    : process;
  let x1 = opts.x1 ?? process.prior(known.shape, opts.rng);
  if (reveal) x1 = pasteKnown(x1, known, mask, true);
  return sample({ process: wrapped, denoiser, grid: opts.grid, r: opts.r, rng: opts.rng, x1, onStep: opts.onStep });
}

/** Regions to fill that `regionMask` knows by name. */
export const REGIONS = ["left", "right", "top", "bottom", "centre"] as const;
export type Region = (typeof REGIONS)[number];

/**
 * The known-pixel mask [1, 1, H, W] (1 = known) that hides a named region:
 * a half of the image (left, right, top, bottom) or the centre square of
 * half the side.
 */
export function regionMask(region: Region, H: number, W: number): Tensor {
  const hide = (y: number, x: number): boolean => {
    switch (region) {
      case "left": return x < W / 2;
      case "right": return x >= W / 2;
      case "top": return y < H / 2;
      case "bottom": return y >= H / 2;
      case "centre": return y >= H / 4 && y < (3 * H) / 4 && x >= W / 4 && x < (3 * W) / 4;
    }
  };
  if (!REGIONS.includes(region)) throw new Error(`inpaint: region must be one of ${REGIONS.join(", ")}, got ${JSON.stringify(region)}`);
  return tensor([1, 1, H, W], Float32Array.from({ length: H * W }, (_, i) => (hide(Math.floor(i / W), i % W) ? 0 : 1)));
}

/** The known-pixel mask of a mask image [N, C, H, W] in [-1, 1]: light pixels (> 0 in every channel's mean) are the ones to fill. */
export function maskFromImage(img: Tensor): Tensor {
  const [N, C, H, W] = img.shape;
  const hw = H * W;
  const out = new Float32Array(N * hw);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < hw; i++) {
      let v = 0;
      for (let c = 0; c < C; c++) v += img.data[(n * C + c) * hw + i] / C;
      out[n * hw + i] = v > 0 ? 0 : 1;
    }
  }
  return tensor([N, 1, H, W], out);
}

/** Images [N, C, H, W] with the unknown pixels of `mask` shown as hidden: an extra mask channel (1 = hidden), for pictures. */
export function showHidden(known: Tensor, mask: Tensor): Tensor {
  const [N, C, H, W] = known.shape;
  const hw = H * W;
  const out = new Float32Array(N * (C + 1) * hw);
  for (let n = 0; n < N; n++) {
    for (let i = 0; i < hw; i++) {
      const isKnown = maskAt(mask, n, i, hw);
      for (let c = 0; c < C; c++) out[(n * (C + 1) + c) * hw + i] = isKnown ? known.data[(n * C + c) * hw + i] : 0;
      out[(n * (C + 1) + C) * hw + i] = isKnown ? 0 : 1;
    }
  }
  return tensor([N, C + 1, H, W], out);
}
