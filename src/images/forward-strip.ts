import type { Process } from "../core/process.js";
import type { Rng } from "../core/rng.js";
import type { Tensor } from "../core/tensor.js";
import type { Chart } from "../viz/chart.js";
import { imageColumns, type ImagePictureOptions } from "../viz/image-grid.js";

/**
 * The forward process as a picture: one column per time t (0 .. 1), one row
 * per data image, each cell x_t = F_t(x0, eps) with ONE noise draw per image
 * shared by all columns, so a row shows the same destruction growing.
 */
export function forwardStrip(
  process: Process<Tensor, Tensor>,
  x0: Tensor,
  rng: Rng,
  opts: ImagePictureOptions & { times?: readonly number[]; title?: string } = {},
): Chart {
  const times = opts.times ?? [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];
  const eps = process.noise(x0.shape, rng);
  const columns = times.map((t) => ({ label: `t=${t.toFixed(2)}`, x: process.forward(x0, t, eps) }));
  return imageColumns(columns, { ...opts, channels: x0.shape[1] });
}
