import * as Plot from "@observablehq/plot";
import type { Tensor } from "../../core/tensor.js";
import { documentOf, titled } from "./compose.js";
import { colors, FONT_SIZE, legendMarks } from "./style.js";

/** A set of 2-D points (a [N, 2] tensor) drawn in one colour. */
export interface Series {
  points: Tensor;
  /** A CSS colour. */
  color: string;
  label?: string;
}

export interface Panel {
  title: string;
  series: Series[];
}

export interface ScatterOptions {
  /** Side of each square plotting area in pixels (default 300). */
  size?: number;
  /** The same fixed [lo, hi] range on both axes of every panel (default [-3, 3]), so panels compare directly. */
  range?: readonly [number, number];
  /** Opacity of one point (default: from the point count, so dense areas darken gradually). */
  alpha?: number;
  /** Point radius in pixels (default: from the point count). */
  radius?: number;
  /** A title over the whole row. */
  title?: string;
  document?: Document;
}

interface Point {
  x: number;
  y: number;
  panel: number;
  color: string;
}

/**
 * Scatter panels side by side (Plot facets) on one fixed range, e.g. data |
 * samples | both. Points outside the range are clamped to the frame, so
 * divergent samples stay visible. Labelled series get an in-frame legend.
 */
export function scatterPlot(panels: readonly Panel[], opts: ScatterOptions = {}): SVGSVGElement {
  if (panels.length === 0) throw new Error("scatter: no panels to draw");
  const document = documentOf(opts.document);
  const [lo, hi] = opts.range ?? [-3, 3];
  if (!(hi > lo)) throw new Error(`scatter: range must be increasing, got [${lo}, ${hi}]`);
  const clamp = (v: number) => Math.min(Math.max(v, lo), hi);
  const marks: Plot.Markish[] = [];
  const size = opts.size ?? 300;
  panels.forEach((panel, k) => {
    for (const s of panel.series) {
      const d = s.points.shape.length === 2 ? s.points.shape[1] : 0;
      if (d !== 2) throw new Error(`scatter: "${panel.title}" needs 2-D points [N, 2], got [${s.points.shape.join(", ")}]`);
      const n = s.points.shape[0];
      const pts: Point[] = [];
      for (let i = 0; i < n; i++) {
        const x = s.points.data[2 * i], y = s.points.data[2 * i + 1];
        if (Number.isFinite(x) && Number.isFinite(y)) pts.push({ x: clamp(x), y: clamp(y), panel: k, color: s.color });
      }
      const alpha = opts.alpha ?? Math.min(0.8, Math.max(0.15, 300 / Math.max(n, 1)));
      const r = opts.radius ?? (n > 3000 ? 1 : n > 300 ? 1.5 : 2.5);
      marks.push(Plot.dot(pts, { x: "x", y: "y", fx: "panel", r, fill: s.color, fillOpacity: alpha }));
    }
    const labelled = panel.series.filter((s) => s.label).map((s) => ({ label: s.label!, color: s.color }));
    marks.push(...legendMarks(labelled, "top-left", k));
  });
  const gap = 16;
  const svg = Plot.plot({
    document,
    width: panels.length * size + (panels.length - 1) * gap + 50,
    height: size + 50,
    marginLeft: 40,
    marginRight: 10,
    marginTop: 26,
    marginBottom: 24,
    style: { fontSize: `${FONT_SIZE}px`, background: "white" },
    fx: { domain: panels.map((_, k) => k), tickFormat: (k: number) => panels[k].title, label: null, padding: gap / size, axis: "top", tickSize: 0 },
    x: { domain: [lo, hi], label: null, nice: false },
    y: { domain: [lo, hi], label: null, nice: false },
    grid: true,
    marks: [Plot.frame({ stroke: "#555" }), ...marks],
  }) as SVGSVGElement;
  return opts.title ? titled(document, svg, opts.title) : svg;
}

/** The standard comparison picture: data, samples, and the two overlaid. */
export function dataVsSamplesPlot(data: Tensor, samples: Tensor, title = "samples", opts: ScatterOptions = {}): SVGSVGElement {
  return scatterPlot(
    [
      { title: "held-out data", series: [{ points: data, color: colors.data }] },
      { title, series: [{ points: samples, color: colors.samples }] },
      { title: "overlay", series: [{ points: data, color: colors.data, label: "data" }, { points: samples, color: colors.samples, label: "samples" }] },
    ],
    opts,
  );
}
