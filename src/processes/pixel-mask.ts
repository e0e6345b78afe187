import { defineProcess, timeAt, type Process, type Time } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import { toSchedule, type Destruction, type Schedule } from "../core/schedule.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { checkLevels, levelOf, levelValue } from "../images/levels.js";
import { uniformKernel, uniformNoise } from "./kernels.js";

/**
 * Pixel masking (DESIGN.md section 3, "Masking", for images): the noise is one
 * uniform u per pixel location, or per patch of p x p pixels; a location is
 * hidden iff u < m(t), all channels together.
 *
 * Representation: x0 is [B, C, H, W]; x_t is [B, C + 1, H, W]. Channels 0..C-1
 * hold the pixel where it is visible and `fill` (default 0, mid-grey in
 * [-1, 1]) where it is hidden; channel C is the mask: 1 hidden, 0 visible.
 * The mask channel lets the network tell a hidden pixel from a grey one. So
 * a network for this process takes C + 1 channels in and gives C out, and the
 * sampler's result x_0 is [B, C + 1, H, W] with an all-zero mask channel
 * (use `unmasked` to drop it). The prior's `shape` is the data shape [B, C, H, W].
 *
 * Posterior noise: u ~ U[0, m(t)) where hidden, U[m(t), 1) where visible, so
 * every visible pixel stays visible under r = 0 (MDLM's sampler); the kernel
 * is the uniform one; the prior is all hidden (m(1) = 1 with the default).
 *
 * With `levels: K` the data are images of K quantised levels (levels.ts):
 * a visible pixel shows its nearest level, so F_0 is the quantised image and
 * a categorical q(x0 | x_t) over the K levels is a full model of x0
 * (DESIGN.md "Categorical pixels"). Level-valued x0 pass through unchanged.
 */
export interface PixelMaskOptions {
  /** m(t), increasing from 0 to 1: a Schedule or a bare function (default linear). */
  schedule?: Schedule | Destruction;
  /** Side of the square patches that are hidden together (default 1: single pixels). */
  patch?: number;
  /** Value written into hidden pixels (default 0). */
  fill?: number;
  /** Quantise visible pixels to this many levels in [-1, 1] (default: none, real values). */
  levels?: number;
}

export interface PixelMaskProcess extends Process<Tensor, Tensor> {
  readonly patch: number;
  readonly fill: number;
  readonly schedule: Schedule;
  /** Number of pixel levels, or undefined for real-valued pixels. */
  readonly levels?: number;
}

function imageShape(x: Tensor, what: string, channelsPlusMask = false): [number, number, number, number] {
  if (x.shape.length !== 4) throw new Error(`pixel-mask: ${what} must be images [B, C, H, W], got shape [${x.shape.join(", ")}]`);
  const [B, C, H, W] = x.shape;
  return [B, channelsPlusMask ? C - 1 : C, H, W];
}

export function pixelMaskProcess(opts: PixelMaskOptions = {}): PixelMaskProcess {
  const schedule = toSchedule(opts.schedule);
  const m = (t: number) => schedule.m(t);
  const p = opts.patch ?? 1;
  const fill = opts.fill ?? 0;
  const K = opts.levels === undefined ? undefined : checkLevels(opts.levels, "pixel-mask");
  const shown = K === undefined ? (v: number) => v : (v: number) => levelValue(levelOf(v, K), K);
  if (!(Number.isInteger(p) && p >= 1)) throw new Error(`pixel-mask: patch must be a positive integer, got ${p}`);
  const grid = (H: number, W: number) => [Math.ceil(H / p), Math.ceil(W / p)] as const;

  const noise = (shape: readonly number[], rng: Rng): Tensor => {
    if (shape.length !== 4) throw new Error(`pixel-mask: noise needs an image shape [B, C, H, W], got [${shape.join(", ")}]`);
    const [gh, gw] = grid(shape[2], shape[3]);
    return uniformNoise([shape[0], gh, gw], rng);
  };

  const forward = (x0: Tensor, t: Time, u: Tensor): Tensor => {
    const [B, C, H, W] = imageShape(x0, "x0");
    const [gh, gw] = grid(H, W);
    if (u.shape.join() !== [B, gh, gw].join()) {
      throw new Error(`pixel-mask: noise shape [${u.shape.join(", ")}] does not fit images [${x0.shape.join(", ")}] with patch ${p} (expected [${B}, ${gh}, ${gw}])`);
    }
    const out = new Float32Array(B * (C + 1) * H * W);
    for (let b = 0; b < B; b++) {
      const mt = m(timeAt(t, b));
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const hidden = u.data[(b * gh + Math.floor(y / p)) * gw + Math.floor(x / p)] < mt;
          for (let c = 0; c < C; c++) out[((b * (C + 1) + c) * H + y) * W + x] = hidden ? fill : shown(x0.data[((b * C + c) * H + y) * W + x]);
          out[((b * (C + 1) + C) * H + y) * W + x] = hidden ? 1 : 0;
        }
      }
    }
    return tensor([B, C + 1, H, W], out);
  };

  const posteriorNoise = (x0: Tensor, xt: Tensor, t: Time, rng: Rng): Tensor => {
    const [B, C, H, W] = imageShape(x0, "x0");
    if (xt.shape.join() !== [B, C + 1, H, W].join()) {
      throw new Error(`pixel-mask: x_t shape [${xt.shape.join(", ")}] does not match x0 [${x0.shape.join(", ")}] plus a mask channel`);
    }
    const [gh, gw] = grid(H, W);
    const u = new Float32Array(B * gh * gw);
    for (let b = 0; b < B; b++) {
      const mt = m(timeAt(t, b));
      for (let i = 0; i < gh; i++) {
        for (let j = 0; j < gw; j++) {
          // A patch is hidden or visible as a whole: read its top-left pixel's mask.
          const hidden = xt.data[((b * (C + 1) + C) * H + i * p) * W + j * p] > 0.5;
          const v = rng.uniform();
          // Float32 rounding could push m + (1 - m) v below m; keep the strict inequalities.
          let val = hidden ? v * mt : mt + (1 - mt) * v;
          val = Math.fround(val);
          if (hidden && val >= mt) val = 0;
          if (!hidden && val < mt) val = Math.min(Math.fround(mt + 1e-7), 1);
          u[(b * gh + i) * gw + j] = val;
        }
      }
    }
    return tensor([B, gh, gw], u);
  };

  return {
    ...defineProcess<Tensor, Tensor>({
      name: K === undefined ? `pixel-mask(patch=${p})` : `pixel-mask(patch=${p}, levels=${K})`,
      time: { kind: "continuous" },
      noise,
      forward,
      posteriorNoise,
      kernel: uniformKernel,
      prior: (shape) => {
        if (shape.length !== 4) throw new Error(`pixel-mask: prior needs the data shape [B, C, H, W], got [${shape.join(", ")}]`);
        const [B, C, H, W] = shape;
        const out = new Float32Array(B * (C + 1) * H * W).fill(fill);
        for (let b = 0; b < B; b++) out.fill(1, (b * (C + 1) + C) * H * W, (b * (C + 1) + C + 1) * H * W);
        return tensor([B, C + 1, H, W], out);
      },
    }),
    patch: p,
    fill,
    schedule,
    levels: K,
  };
}

/** Drop the mask channel of x_t [B, C + 1, H, W] -> [B, C, H, W] (hidden pixels show the fill value). */
export function unmasked(xt: Tensor): Tensor {
  const [B, C1, H, W] = xt.shape;
  const C = C1 - 1;
  const out = new Float32Array(B * C * H * W);
  for (let b = 0; b < B; b++) out.set(xt.data.subarray(b * C1 * H * W, (b * C1 + C) * H * W), b * C * H * W);
  return tensor([B, C, H, W], out);
}

/** The mask channel of x_t: [B, 1, H, W], 1 where hidden. */
export function hiddenMask(xt: Tensor): Tensor {
  const [B, C1, H, W] = xt.shape;
  const out = new Float32Array(B * H * W);
  for (let b = 0; b < B; b++) out.set(xt.data.subarray((b * C1 + C1 - 1) * H * W, (b * C1 + C1) * H * W), b * H * W);
  return tensor([B, 1, H, W], out);
}
