import { chart, type Chart } from "./chart.js";
import { lossPlot, type Line, type LinePlotOptions } from "./plots/loss.js";

export type { Line, LinePlotOptions };

/** A line chart (training loss against step, a metric against NFE), ready to save as PNG. */
export function linePlot(lines: readonly Line[], opts: Omit<LinePlotOptions, "document"> = {}): Chart {
  return chart((document) => lossPlot(lines, { ...opts, document }));
}
