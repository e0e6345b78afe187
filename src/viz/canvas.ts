import { PNG } from "pngjs";
import { writeFileAtomic } from "./files.js";

/** An RGB colour, 0-255 per channel. */
export type Color = readonly [number, number, number];

export const WHITE: Color = [255, 255, 255];

/**
 * An RGBA raster for pictures of images: pixels are drawn exactly and saved
 * with pngjs. Charts (scatter, loss, trajectories) are drawn with
 * Observable Plot instead (chart.ts, plots/).
 */
export class Canvas {
  readonly data: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: Color = WHITE) {
    if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
      throw new Error(`canvas: width and height must be positive integers, got ${width} x ${height}`);
    }
    this.data = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) {
      this.data.set(background, 4 * i);
      this.data[4 * i + 3] = 255;
    }
  }

  /** Fill a rectangle (clipped to the canvas) with an opaque colour. */
  fillRect(x: number, y: number, w: number, h: number, color: Color): void {
    const x0 = Math.max(0, Math.round(x)), x1 = Math.min(this.width, Math.round(x + w));
    const y0 = Math.max(0, Math.round(y)), y1 = Math.min(this.height, Math.round(y + h));
    for (let j = y0; j < y1; j++) for (let i = x0; i < x1; i++) this.data.set(color, 4 * (j * this.width + i));
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

/** Decode a PNG file's bytes (for tests and `udm show`). */
export function decodePng(bytes: Uint8Array): { width: number; height: number; data: Uint8Array } {
  const png = PNG.sync.read(Buffer.from(bytes));
  return { width: png.width, height: png.height, data: new Uint8Array(png.data) };
}
