import type { Tensor } from "../core/tensor.js";
import { Canvas, colors, textHeight, type Color } from "./canvas.js";

/**
 * Pictures of image batches [B, C, H, W] with values in [-1, 1]:
 * C = 1 grey, C = 3 RGB. A batch with one extra channel (pixel masking's
 * x_t: image + mask) draws hidden pixels in a flat colour, so masked states
 * read as masked rather than as grey.
 */
export interface ImagePictureOptions {
  /** Screen pixels per image pixel (default 3). */
  scale?: number;
  /** Gap between images in screen pixels (default 2). */
  gap?: number;
  /** Colour of hidden pixels (default a light blue). */
  hiddenColor?: Color;
  /** Image channels of the data (1 or 3); a batch with one more is read as image + mask (default: inferred). */
  channels?: number;
}

const HIDDEN: Color = [120, 170, 230];

function channelsOf(x: Tensor, opts: ImagePictureOptions): { C: number; masked: boolean } {
  const c = x.shape[1];
  const C = opts.channels ?? (c === 2 || c === 4 ? c - 1 : c);
  if (C !== 1 && C !== 3) throw new Error(`image picture: images need 1 or 3 channels (plus an optional mask), got [${x.shape.join(", ")}]`);
  if (c !== C && c !== C + 1) throw new Error(`image picture: ${c} channels do not fit ${C}-channel images`);
  return { C, masked: c === C + 1 };
}

const toByte = (v: number) => Math.max(0, Math.min(255, Math.round(((v + 1) / 2) * 255)));

/** Draw image `b` of batch x with its top-left corner at (x0, y0). */
export function drawImage(canvas: Canvas, x: Tensor, b: number, left: number, top: number, opts: ImagePictureOptions = {}): void {
  if (x.shape.length !== 4) throw new Error(`image picture: expected [B, C, H, W], got [${x.shape.join(", ")}]`);
  const [, c, H, W] = x.shape;
  const { C, masked } = channelsOf(x, opts);
  const s = opts.scale ?? 3;
  const hw = H * W;
  for (let y = 0; y < H; y++) {
    for (let xx = 0; xx < W; xx++) {
      const i = y * W + xx;
      let col: Color;
      if (masked && x.data[(b * c + C) * hw + i] > 0.5) col = opts.hiddenColor ?? HIDDEN;
      else if (C === 1) {
        const g = toByte(x.data[b * c * hw + i]);
        col = [g, g, g];
      } else col = [0, 1, 2].map((k) => toByte(x.data[(b * c + k) * hw + i])) as unknown as Color;
      canvas.fillRect(left + xx * s, top + y * s, s, s, col);
    }
  }
}

/** A grid of the batch, `cols` per row (default ceil(sqrt(B))), with an optional title above. */
export function imageGrid(x: Tensor, opts: ImagePictureOptions & { cols?: number; title?: string } = {}): Canvas {
  const [B, , H, W] = x.shape;
  const s = opts.scale ?? 3, gap = opts.gap ?? 2;
  const cols = Math.max(1, Math.min(B, opts.cols ?? Math.ceil(Math.sqrt(B))));
  const rows = Math.ceil(B / cols);
  const titleH = opts.title ? textHeight() + 8 : 0;
  const canvas = new Canvas(cols * (W * s + gap) + gap, titleH + rows * (H * s + gap) + gap, colors.white);
  if (opts.title) canvas.text(gap + 2, 4, opts.title);
  for (let b = 0; b < B; b++) drawImage(canvas, x, b, gap + (b % cols) * (W * s + gap), titleH + gap + Math.floor(b / cols) * (H * s + gap), opts);
  return canvas;
}

/**
 * Columns of batches side by side, each with a label on top: column k shows
 * rows 0..n-1 of columns[k].x. A forward-process strip (x_t for growing t)
 * or a sampling trajectory (x_t for falling t) is this picture.
 */
export function imageColumns(columns: readonly { label: string; x: Tensor }[], opts: ImagePictureOptions & { rows?: number; title?: string } = {}): Canvas {
  if (columns.length === 0) throw new Error("image picture: no columns to draw");
  const [B0, , H, W] = columns[0].x.shape;
  const rows = Math.min(opts.rows ?? B0, ...columns.map((c) => c.x.shape[0]));
  const s = opts.scale ?? 3, gap = opts.gap ?? 2;
  const colW = Math.max(W * s, ...columns.map((c) => c.label.length * 8)) + 4;
  const titleH = opts.title ? textHeight() + 8 : 0;
  const labelH = textHeight() + 6;
  const canvas = new Canvas(columns.length * (colW + gap) + gap, titleH + labelH + rows * (H * s + gap) + gap, colors.white);
  if (opts.title) canvas.text(gap + 2, 4, opts.title);
  columns.forEach((col, k) => {
    const left = gap + k * (colW + gap);
    canvas.text(left + colW / 2, titleH + 2, col.label, colors.black, 2, "center");
    for (let r = 0; r < rows; r++) drawImage(canvas, col.x, r, left + (colW - W * s) / 2, titleH + labelH + r * (H * s + gap), opts);
  });
  return canvas;
}
