import * as Plot from "@observablehq/plot";

/**
 * Colours and the in-frame legend shared by every chart. Plot's own colour
 * legend for ordinal scales is HTML, which a PNG renderer cannot draw, so
 * legends here are ordinary SVG marks inside the frame.
 */
export const colors = {
  data: "#2a5ac8",
  samples: "#dc501e",
  green: "#1e963c",
  purple: "#823caa",
  grey: "#969696",
} as const;

/** Distinct colours for series without their own (loss curves, several sample sets). */
export const palette: readonly string[] = [colors.data, colors.samples, colors.green, colors.purple, "#c8a000", "#00a0aa", "#8c564b"];

/** The font size of every chart (Plot's default is 10). */
export const FONT_SIZE = 12;

/** A series name and its colour, as listed in a legend. */
export interface LegendItem {
  label: string;
  color: string;
}

/**
 * Legend marks in the top-right (or top-left) corner of the frame: a colour
 * swatch and the label per row. `facet` pins the legend to one facet.
 */
export function legendMarks(items: readonly LegendItem[], corner: "top-right" | "top-left" = "top-right", facet?: string | number): Plot.Markish[] {
  if (items.length === 0) return [];
  const rows = items.map((it, i) => ({ ...it, dy: 10 + i * (FONT_SIZE + 5), fx: facet }));
  const right = corner === "top-right";
  const fx = facet === undefined ? {} : { fx: "fx" as const };
  return rows.flatMap((row) => [
    Plot.dot([row], { ...fx, frameAnchor: corner, dx: right ? -12 : 12, dy: row.dy, r: 4.5, fill: row.color, stroke: "white" }),
    Plot.text([row], { ...fx, frameAnchor: corner, dx: right ? -20 : 20, dy: row.dy, text: () => row.label, textAnchor: right ? "end" : "start", fill: "black", stroke: "white", strokeWidth: 3, paintOrder: "stroke" }),
  ]);
}
