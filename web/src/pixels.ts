import type { Tensor } from "../../src/core/tensor.js";

/**
 * Image batches [B, C, H, W] in [-1, 1] drawn on a canvas, `cols` per row,
 * `scale` screen pixels per image pixel. With one extra channel (pixel
 * masking's x_t = image + mask) hidden pixels are drawn light blue.
 */
export function drawImages(canvas: HTMLCanvasElement, x: Tensor, cols: number, scale: number, gap = 2): void {
  const [B, c, H, W] = x.shape;
  const C = c === 2 || c === 4 ? c - 1 : c;
  const rows = Math.ceil(B / cols);
  const w = cols * (W + gap) + gap, h = rows * (H + gap) + gap;
  const img = new ImageData(w, h);
  img.data.fill(255);
  const hw = H * W;
  const byte = (v: number) => Math.max(0, Math.min(255, Math.round(((v + 1) / 2) * 255)));
  for (let b = 0; b < B; b++) {
    const left = gap + (b % cols) * (W + gap), top = gap + Math.floor(b / cols) * (H + gap);
    for (let i = 0; i < hw; i++) {
      const o = 4 * ((top + Math.floor(i / W)) * w + left + (i % W));
      if (c === C + 1 && x.data[(b * c + C) * hw + i] > 0.5) img.data.set([120, 170, 230], o);
      else if (C === 1) img.data.fill(byte(x.data[b * c * hw + i]), o, o + 3);
      else for (let k = 0; k < 3; k++) img.data[o + k] = byte(x.data[(b * c + k) * hw + i]);
    }
  }
  const small = document.createElement("canvas");
  small.width = w;
  small.height = h;
  small.getContext("2d")!.putImageData(img, 0, 0);
  canvas.width = w * scale;
  canvas.height = h * scale;
  const ctx = canvas.getContext("2d")!;
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(small, 0, 0, w * scale, h * scale);
}
