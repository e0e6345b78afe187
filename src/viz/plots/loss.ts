import * as Plot from "@observablehq/plot";
import { documentOf, titled } from "./compose.js";
import { FONT_SIZE, legendMarks, palette } from "./style.js";

export interface Line {
  label: string;
  /** y values at x = 1, 2, ... (a loss per training step), or explicit x below. */
  y: readonly number[];
  x?: readonly number[];
  /** A CSS colour (default: from the palette). */
  color?: string;
}

export interface LinePlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Log-scale y axis (default: when every finite value is positive and they span a decade or more). */
  logY?: boolean;
  /** Also draw a trailing moving average over this many points (default: about 1/50 of the points; 0 or 1 disables). */
  smooth?: number;
  /** The DOM document to draw in (default: the page's; in Node pass linkedom's). */
  document?: Document;
}

/** Points drawn for the raw (faint) curve at most; the moving average always uses all of them. */
const MAX_RAW_POINTS = 3000;

/**
 * A line chart of one or more series, e.g. training loss against step: raw
 * values faint, a moving average on top (Plot's windowY), a legend when
 * there is more than one series. Non-finite values, and non-positive ones on
 * a log axis, are left out rather than drawn as zero.
 */
export function lossPlot(lines: readonly Line[], opts: LinePlotOptions = {}): SVGSVGElement {
  const document = documentOf(opts.document);
  const finite = lines.flatMap((l) => l.y.filter(Number.isFinite));
  // A log axis only pays off (and only gets labelled ticks from Plot) over a decade or more.
  const logY = opts.logY ?? (finite.length > 0 && finite.every((v) => v > 0) && finite.reduce(max) >= 10 * finite.reduce(min));
  const rows = lines.map((l, k) => {
    const pts = l.y.map((y, i) => ({ x: l.x?.[i] ?? i + 1, y, series: l.label })).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!logY || p.y > 0));
    return { label: l.label, color: l.color ?? palette[k % palette.length], pts };
  });
  const marks: Plot.Markish[] = [Plot.frame({ stroke: "#bbb" })];
  for (const r of rows) {
    const window = opts.smooth ?? Math.max(1, Math.round(r.pts.length / 50));
    const stride = Math.ceil(r.pts.length / MAX_RAW_POINTS);
    const raw = stride > 1 ? r.pts.filter((_, i) => i % stride === 0) : r.pts;
    if (window > 1) {
      marks.push(Plot.lineY(raw, { x: "x", y: "y", stroke: r.color, strokeOpacity: 0.25, strokeWidth: 1 }));
      marks.push(Plot.lineY(r.pts, Plot.windowY({ k: window, anchor: "end", reduce: "mean", strict: false }, { x: "x", y: "y", stroke: r.color, strokeWidth: 1.8 })));
    } else {
      marks.push(Plot.lineY(r.pts, { x: "x", y: "y", stroke: r.color, strokeWidth: 1.8, marker: r.pts.length <= 30 ? "circle" : undefined }));
    }
  }
  if (rows.every((r) => r.pts.length === 0)) marks.push(Plot.text(["no data"], { frameAnchor: "middle", fill: "#888", fontSize: FONT_SIZE + 2 }));
  if (rows.length > 1) marks.push(...legendMarks(rows.map((r) => ({ label: r.label, color: r.color }))));
  const svg = Plot.plot({
    document,
    width: opts.width ?? 640,
    height: opts.height ?? 300,
    marginLeft: 60,
    marginRight: 20,
    marginBottom: opts.xLabel ? 46 : 30,
    style: { fontSize: `${FONT_SIZE}px`, background: "white" },
    grid: true,
    x: { label: opts.xLabel ?? null, labelAnchor: "center", labelArrow: "none", labelOffset: 40 },
    y: { type: logY ? "log" : "linear", label: opts.yLabel ?? (logY ? "log scale" : null), labelArrow: "none", tickFormat: logY ? tick : undefined },
    marks,
  }) as SVGSVGElement;
  return opts.title ? titled(document, svg, opts.title) : svg;
}

/** Every tick labelled on a log axis too (Plot labels only some), 3 significant digits. */
function tick(v: number): string {
  return Number(v.toPrecision(3)).toString();
}

const max = (a: number, b: number) => (a > b ? a : b);
const min = (a: number, b: number) => (a < b ? a : b);
