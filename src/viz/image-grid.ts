import type { Tensor } from "../core/tensor.js";
import { Canvas, type Color } from "./canvas.js";
import { chart, type Chart } from "./chart.js";

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

/** Label text size and line height in image pictures. */
const FONT = 12, LINE = FONT + 8;

/**
 * A grid of the batch, `cols` per row (default ceil(sqrt(B))), with an
 * optional title above. Pixels are drawn exactly (pngjs raster); the title is
 * SVG text, rendered with the charts' font.
 */
export function imageGrid(x: Tensor, opts: ImagePictureOptions & { cols?: number; title?: string } = {}): Chart {
  const [B, , H, W] = x.shape;
  const s = opts.scale ?? 3, gap = opts.gap ?? 2;
  const cols = Math.max(1, Math.min(B, opts.cols ?? Math.ceil(Math.sqrt(B))));
  const rows = Math.ceil(B / cols);
  const raster = new Canvas(cols * (W * s + gap) + gap, rows * (H * s + gap) + gap);
  for (let b = 0; b < B; b++) drawImage(raster, x, b, gap + (b % cols) * (W * s + gap), gap + Math.floor(b / cols) * (H * s + gap), opts);
  const labels = opts.title ? [{ text: opts.title, x: 0.5, y: 0, bold: true }] : [];
  return labelled(raster, labels, opts.title ? LINE : 0);
}

/**
 * Columns of batches side by side, each with a label on top: column k shows
 * rows 0..n-1 of columns[k].x. A forward-process strip (x_t for growing t)
 * or a sampling trajectory (x_t for falling t) is this picture.
 */
export function imageColumns(columns: readonly { label: string; x: Tensor }[], opts: ImagePictureOptions & { rows?: number; title?: string } = {}): Chart {
  if (columns.length === 0) throw new Error("image picture: no columns to draw");
  const [B0, , H, W] = columns[0].x.shape;
  const rows = Math.min(opts.rows ?? B0, ...columns.map((c) => c.x.shape[0]));
  const s = opts.scale ?? 3, gap = opts.gap ?? 2;
  const colW = Math.max(W * s, ...columns.map((c) => textWidth(c.label))) + 6;
  const raster = new Canvas(columns.length * (colW + gap) + gap, rows * (H * s + gap) + gap);
  columns.forEach((col, k) => {
    for (let r = 0; r < rows; r++) drawImage(raster, col.x, r, gap + k * (colW + gap) + Math.floor((colW - W * s) / 2), gap + r * (H * s + gap), opts);
  });
  const titleH = opts.title ? LINE : 0;
  const labels = columns.map((col, k) => ({ text: col.label, x: (gap + k * (colW + gap) + colW / 2) / raster.width, y: titleH, bold: false }));
  if (opts.title) labels.push({ text: opts.title, x: 0.5, y: 0, bold: true });
  return labelled(raster, labels, titleH + LINE);
}

/** Rough width of a label in pixels at the label size (the font's average advance). */
const textWidth = (text: string) => Math.ceil(text.length * FONT * 0.6);

/**
 * The raster under `top` pixels of labels; each label is centred at
 * x (a fraction of the raster's width) with its line starting at y.
 */
function labelled(raster: Canvas, labels: { text: string; x: number; y: number; bold: boolean }[], top: number): Chart {
  const width = Math.max(raster.width, ...labels.filter((l) => l.bold).map((l) => textWidth(l.text) + 12));
  const left = Math.floor((width - raster.width) / 2);
  const NS = "http://www.w3.org/2000/svg";
  return chart((document) => {
    const svg = document.createElementNS(NS, "svg");
    const set = (el: Element, attrs: Record<string, string | number>) => Object.entries(attrs).forEach(([k, v]) => el.setAttribute(k, String(v)));
    set(svg, { width, height: top + raster.height, viewBox: `0 0 ${width} ${top + raster.height}`, "font-family": "system-ui, sans-serif", "font-size": FONT });
    const bg = document.createElementNS(NS, "rect");
    set(bg, { width: "100%", height: "100%", fill: "white" });
    svg.appendChild(bg);
    for (const l of labels) {
      const t = document.createElementNS(NS, "text");
      set(t, { x: l.bold ? width / 2 : left + l.x * raster.width, y: l.y + FONT + 2, "text-anchor": "middle", fill: "black", ...(l.bold ? { "font-weight": "bold" } : {}) });
      t.textContent = l.text;
      svg.appendChild(t);
    }
    const img = document.createElementNS(NS, "image");
    set(img, { x: left, y: top, width: raster.width, height: raster.height, href: `data:image/png;base64,${raster.toPng().toString("base64")}`, "image-rendering": "optimizeSpeed", style: "image-rendering: pixelated" });
    svg.appendChild(img);
    return svg;
  }, 1);
}
