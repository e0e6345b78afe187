import { Canvas, colors, palette, textHeight, type Color } from "./canvas.js";

export interface Line {
  label: string;
  /** y values at x = 1, 2, ... (a loss per training step), or explicit x below. */
  y: readonly number[];
  x?: readonly number[];
  color?: Color;
}

export interface LinePlotOptions {
  title?: string;
  xLabel?: string;
  width?: number;
  height?: number;
  /** Log-scale y axis (losses); non-positive values are dropped. Default true. */
  logY?: boolean;
  /** Also draw a moving average over this many points, darker (default: about 1/50 of the points; 0 disables). */
  smooth?: number;
}

const PAD = { left: 62, right: 14, top: 26, bottom: 34 };

/**
 * A line plot of one or more series, e.g. training loss against step: raw
 * values faint, a moving average on top, min/max labels on the y axis and
 * the x range underneath. Non-finite values are skipped, not drawn as zero.
 */
export function linePlot(lines: readonly Line[], opts: LinePlotOptions = {}): Canvas {
  const width = opts.width ?? 640;
  const height = opts.height ?? 300;
  const logY = opts.logY ?? true;
  const c = new Canvas(width, height);
  const pw = width - PAD.left - PAD.right;
  const ph = height - PAD.top - PAD.bottom;
  if (opts.title) c.text(width / 2, 8, opts.title, colors.black, 2, "center");

  const ty = (v: number) => (logY ? Math.log10(v) : v);
  const usable = (v: number) => Number.isFinite(v) && (!logY || v > 0);
  const pts = lines.map((l) => l.y.map((y, i) => [l.x?.[i] ?? i + 1, y] as const).filter(([x, y]) => Number.isFinite(x) && usable(y)));
  const all = pts.flat();
  if (all.length === 0) {
    c.strokeRect(PAD.left, PAD.top, pw, ph, colors.black);
    c.text(PAD.left + pw / 2, PAD.top + ph / 2, "no data", colors.grey, 2, "center");
    return c;
  }
  let [x0, x1] = extent(all.map((p) => p[0]));
  let [y0, y1] = extent(all.map((p) => ty(p[1])));
  if (x1 === x0) x1 = x0 + 1;
  if (y1 === y0) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sx = (x: number) => PAD.left + ((x - x0) / (x1 - x0)) * (pw - 1);
  const sy = (y: number) => PAD.top + (1 - (ty(y) - y0) / (y1 - y0)) * (ph - 1);

  lines.forEach((line, k) => {
    const color = line.color ?? palette[k % palette.length];
    const p = pts[k];
    const window = opts.smooth ?? Math.max(1, Math.round(p.length / 50));
    const faint = window > 1 ? 0.25 : 1;
    for (let i = 1; i < p.length; i++) c.line(sx(p[i - 1][0]), sy(p[i - 1][1]), sx(p[i][0]), sy(p[i][1]), color, faint);
    if (window > 1) {
      const avg = movingAverage(p.map((q) => q[1]), window);
      for (let i = 1; i < p.length; i++) c.line(sx(p[i - 1][0]), sy(avg[i - 1]), sx(p[i][0]), sy(avg[i]), color);
    }
    // Legend, top right inside the frame.
    const ly = PAD.top + 6 + k * (textHeight() + 6);
    c.fillRect(PAD.left + pw - 12, ly, 8, 8, color);
    c.text(PAD.left + pw - 16, ly, line.label, colors.black, 2, "right");
  });

  c.strokeRect(PAD.left, PAD.top, pw, ph, colors.black);
  const ylab = (v: number) => fmt(logY ? 10 ** v : v);
  c.text(PAD.left - 4, PAD.top, ylab(y1), colors.black, 2, "right");
  c.text(PAD.left - 4, PAD.top + ph - textHeight(), ylab(y0), colors.black, 2, "right");
  if (logY) c.text(PAD.left - 4, PAD.top + ph / 2 - textHeight() / 2, "LOG", colors.grey, 2, "right");
  const by = PAD.top + ph + 4;
  c.text(PAD.left, by, fmt(x0), colors.black);
  c.text(PAD.left + pw, by, fmt(x1), colors.black, 2, "right");
  if (opts.xLabel) c.text(PAD.left + pw / 2, by + textHeight() + 2, opts.xLabel, colors.grey, 2, "center");
  return c;
}

/** Trailing moving average (the first points average what exists so far). */
export function movingAverage(y: readonly number[], window: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < y.length; i++) {
    sum += y[i];
    if (i >= window) sum -= y[i - window];
    out.push(sum / Math.min(i + 1, window));
  }
  return out;
}

function extent(v: number[]): [number, number] {
  let lo = Infinity, hi = -Infinity;
  for (const x of v) {
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  return [lo, hi];
}

function fmt(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-2) return v.toExponential(1).replace("e+", "e");
  return Number.isInteger(v) ? String(v) : v.toPrecision(3);
}
