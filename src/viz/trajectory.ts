import { chart, type Chart } from "./chart.js";
import type { ScatterOptions } from "./plots/scatter.js";
import { trajectoryPlot, trajectoryRecorder, type Snapshot } from "./plots/trajectory.js";

export { trajectoryRecorder, type Snapshot };

/** x_t along a sampling run of 2-D points, one panel per snapshot, ready to save as PNG. */
export function trajectoryPicture(snapshots: readonly Snapshot[], opts: Omit<ScatterOptions, "document"> = {}): Chart {
  return chart((document) => trajectoryPlot(snapshots, { ...opts, document }));
}
