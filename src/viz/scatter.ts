import { itemSize, type Tensor } from "../core/tensor.js";
import { Canvas, colors, hstack, textHeight, type Color } from "./canvas.js";

/** A set of 2-D points drawn in one colour. */
export interface Series {
  points: Tensor;
  color: Color;
  label?: string;
}

export interface Panel {
  title: string;
  series: Series[];
}

export interface ScatterOptions {
  /** Side of the square plotting area in pixels (default 300). */
  size?: number;
  /** The same fixed [lo, hi] range on both axes (default [-3, 3]), so panels compare directly. */
  range?: readonly [number, number];
  /** Opacity of one point (default: from the point count, so dense areas darken gradually). */
  alpha?: number;
}

const MARGIN = 6;

/**
 * One scatter panel: title on top, a framed square with light axes through
 * the origin and tick labels at the range ends. Points outside the range are
 * clamped to the frame, so divergent samples remain visible.
 */
export function scatterPanel(panel: Panel, opts: ScatterOptions = {}): Canvas {
  const size = opts.size ?? 300;
  const [lo, hi] = opts.range ?? [-3, 3];
  if (!(hi > lo)) throw new Error(`scatter: range must be increasing, got [${lo}, ${hi}]`);
  const top = textHeight() + 2 * MARGIN;
  const bottom = textHeight() + MARGIN;
  const c = new Canvas(size + 2 * MARGIN, top + size + bottom + MARGIN);
  c.text(c.width / 2, MARGIN, panel.title, colors.black, 2, "center");
  // The range maps to the pixels inside the frame, so clamped points stay visible.
  const frac = (v: number) => (Math.min(Math.max(v, lo), hi) - lo) / (hi - lo);
  const px = (v: number) => MARGIN + 1 + frac(v) * (size - 3);
  const py = (v: number) => top + 1 + (1 - frac(v)) * (size - 3);
  if (lo < 0 && hi > 0) {
    c.line(px(0), top, px(0), top + size - 1, colors.light);
    c.line(MARGIN, py(0), MARGIN + size - 1, py(0), colors.light);
  }
  for (const s of panel.series) {
    if (itemSize(s.points) !== 2) throw new Error(`scatter: "${panel.title}" needs 2-D points, got items of size ${itemSize(s.points)}`);
    const n = s.points.shape[0];
    const alpha = opts.alpha ?? Math.min(0.8, Math.max(0.2, 400 / Math.max(n, 1)));
    const r = n > 3000 ? 0.5 : 1;
    for (let i = 0; i < n; i++) c.dot(px(s.points.data[2 * i]), py(s.points.data[2 * i + 1]), r, s.color, alpha);
  }
  c.strokeRect(MARGIN, top, size, size, colors.black);
  const y = top + size + 3;
  c.text(MARGIN, y, fmt(lo), colors.grey);
  c.text(MARGIN + size, y, fmt(hi), colors.grey, 2, "right");
  const labels = panel.series.filter((s) => s.label);
  let lx = MARGIN + size / 2 - 40;
  for (const s of labels) {
    c.fillRect(lx, y, 8, 8, s.color);
    c.text(lx + 11, y, s.label!, colors.black);
    lx += 11 + (s.label!.length * 4 + 6) * 2;
  }
  return c;
}

/** Several scatter panels side by side (data | samples | both, or a trajectory). */
export function scatterRow(panels: readonly Panel[], opts: ScatterOptions = {}): Canvas {
  return hstack(panels.map((p) => scatterPanel(p, opts)));
}

/** The standard comparison picture: data, samples, and the two overlaid. */
export function dataVsSamples(data: Tensor, samples: Tensor, title = "samples", opts: ScatterOptions = {}): Canvas {
  return scatterRow(
    [
      { title: "data", series: [{ points: data, color: colors.data }] },
      { title, series: [{ points: samples, color: colors.samples }] },
      { title: "overlay", series: [{ points: data, color: colors.data, label: "data" }, { points: samples, color: colors.samples, label: "samples" }] },
    ],
    opts,
  );
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}
