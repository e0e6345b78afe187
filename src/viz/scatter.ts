import type { Tensor } from "../core/tensor.js";
import { chart, type Chart } from "./chart.js";
import { dataVsSamplesPlot, scatterPlot, type Panel, type ScatterOptions, type Series } from "./plots/scatter.js";

export type { Panel, ScatterOptions, Series };

/** Scatter panels of 2-D points side by side on one fixed range, ready to save as PNG. */
export function scatterRow(panels: readonly Panel[], opts: Omit<ScatterOptions, "document"> = {}): Chart {
  return chart((document) => scatterPlot(panels, { ...opts, document }));
}

/** Held-out data, samples, and the two overlaid. */
export function dataVsSamples(data: Tensor, samples: Tensor, title = "samples", opts: Omit<ScatterOptions, "document"> = {}): Chart {
  return chart((document) => dataVsSamplesPlot(data, samples, title, { ...opts, document }));
}
