import { PNG } from "pngjs";
import { writeFileAtomic } from "./files.js";
import { GLYPH_H, rasterizeText, textWidth } from "./font.js";

/** An RGB colour, 0-255 per channel. */
export type Color = readonly [number, number, number];

export const colors = {
  white: [255, 255, 255] as Color,
  black: [0, 0, 0] as Color,
  grey: [150, 150, 150] as Color,
  light: [225, 225, 225] as Color,
  data: [40, 90, 200] as Color,
  samples: [220, 80, 30] as Color,
  green: [30, 150, 60] as Color,
  purple: [130, 60, 170] as Color,
};

/** A palette for series that need distinct colours (loss curves, several sample sets). */
export const palette: readonly Color[] = [colors.data, colors.samples, colors.green, colors.purple, [200, 160, 0], [0, 160, 170]];

/**
 * An RGBA raster with the few drawing operations the plots need. Points are
 * alpha-blended, so dense regions of a scatter plot darken (a poor man's
 * density plot) instead of saturating at the first point.
 */
export class Canvas {
  readonly data: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: Color = colors.white) {
    if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
      throw new Error(`canvas: width and height must be positive integers, got ${width} x ${height}`);
    }
    this.data = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) {
      this.data.set(background, 4 * i);
      this.data[4 * i + 3] = 255;
    }
  }

  /** Blend `color` over pixel (x, y) with opacity `alpha`; pixels outside are ignored. */
  blend(x: number, y: number, color: Color, alpha = 1): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = 4 * (y * this.width + x);
    for (let c = 0; c < 3; c++) this.data[o + c] = Math.round(this.data[o + c] * (1 - alpha) + color[c] * alpha);
  }

  fillRect(x: number, y: number, w: number, h: number, color: Color, alpha = 1): void {
    for (let j = Math.round(y); j < Math.round(y + h); j++) for (let i = Math.round(x); i < Math.round(x + w); i++) this.blend(i, j, color, alpha);
  }

  strokeRect(x: number, y: number, w: number, h: number, color: Color): void {
    this.line(x, y, x + w - 1, y, color);
    this.line(x, y + h - 1, x + w - 1, y + h - 1, color);
    this.line(x, y, x, y + h - 1, color);
    this.line(x + w - 1, y, x + w - 1, y + h - 1, color);
  }

  /** A filled disc of radius r (r < 1 draws a single pixel). */
  dot(x: number, y: number, r: number, color: Color, alpha = 1): void {
    if (r < 1) return this.blend(x, y, color, alpha);
    const ri = Math.ceil(r);
    for (let dy = -ri; dy <= ri; dy++) for (let dx = -ri; dx <= ri; dx++) if (dx * dx + dy * dy <= r * r) this.blend(x + dx, y + dy, color, alpha);
  }

  /** A straight line by uniform stepping (no gaps, one pixel wide). */
  line(x0: number, y0: number, x1: number, y1: number, color: Color, alpha = 1): void {
    const n = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    for (let i = 0; i <= n; i++) this.blend(x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, color, alpha);
  }

  /** Text in the 3x5 font, `scale` screen pixels per font pixel; `align` is relative to x. */
  text(x: number, y: number, text: string, color: Color = colors.black, scale = 2, align: "left" | "center" | "right" = "left"): void {
    const w = textWidth(text) * scale;
    const left = align === "left" ? x : align === "center" ? x - w / 2 : x - w;
    rasterizeText(text, (px, py) => this.fillRect(left + px * scale, y + py * scale, scale, scale, color));
  }

  /** Copy another canvas in at (x, y). */
  draw(src: Canvas, x: number, y: number): void {
    for (let j = 0; j < src.height; j++) {
      for (let i = 0; i < src.width; i++) {
        const tx = x + i, ty = y + j;
        if (tx < 0 || ty < 0 || tx >= this.width || ty >= this.height) continue;
        const s = 4 * (j * src.width + i);
        this.data.set(src.data.subarray(s, s + 4), 4 * (ty * this.width + tx));
      }
    }
  }

  /** PNG bytes. */
  toPng(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    return PNG.sync.write(png);
  }

  /** Write as a PNG file, atomically. */
  save(path: string): void {
    writeFileAtomic(path, this.toPng());
  }
}

export const textHeight = (scale = 2): number => GLYPH_H * scale;

/** Lay canvases out in a row with a gap, on one background. */
export function hstack(panels: readonly Canvas[], gap = 8, background: Color = colors.white): Canvas {
  if (panels.length === 0) throw new Error("hstack: no panels");
  const width = panels.reduce((w, p) => w + p.width, 0) + gap * (panels.length + 1);
  const height = Math.max(...panels.map((p) => p.height)) + 2 * gap;
  const out = new Canvas(width, height, background);
  let x = gap;
  for (const p of panels) {
    out.draw(p, x, gap);
    x += p.width + gap;
  }
  return out;
}

/** Decode a PNG file's bytes (for tests and `udm show`). */
export function decodePng(bytes: Uint8Array): { width: number; height: number; data: Uint8Array } {
  const png = PNG.sync.read(Buffer.from(bytes));
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}
