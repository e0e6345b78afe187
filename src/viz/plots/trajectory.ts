import type { StepInfo } from "../../core/sampler.js";
import { tensor, type Tensor } from "../../core/tensor.js";
import { scatterPlot, type ScatterOptions } from "./scatter.js";
import { colors } from "./style.js";

/** x_t at one time of a sampling run. */
export interface Snapshot {
  t: number;
  x: Tensor;
}

/**
 * Collects x_t along a sampling run for a trajectory picture: pass
 * `recorder.onStep` as the sampler's onStep. It keeps the start x_1 and
 * about `panels - 1` evenly spaced later states, always including the end.
 */
export function trajectoryRecorder(panels = 6): { onStep: (info: StepInfo<Tensor>) => void; snapshots: Snapshot[] } {
  if (!(Number.isInteger(panels) && panels >= 2)) throw new Error(`trajectory: panels must be an integer >= 2, got ${panels}`);
  const snapshots: Snapshot[] = [];
  return {
    snapshots,
    onStep(info) {
      if (info.step === 0) snapshots.push({ t: info.t, x: copy(info.xt) });
      // Keep step i when it crosses one of the evenly spaced marks k * steps / (panels - 1).
      const k = Math.floor(((info.step + 1) * (panels - 1)) / info.steps);
      const kPrev = Math.floor((info.step * (panels - 1)) / info.steps);
      if (k > kPrev || info.step === info.steps - 1) {
        if (snapshots.length < panels) snapshots.push({ t: info.s, x: copy(info.xs) });
        else snapshots[panels - 1] = { t: info.s, x: copy(info.xs) };
      }
    },
  };
}

/** A row of scatter panels, one per snapshot, titled with its time. */
export function trajectoryPlot(snapshots: readonly Snapshot[], opts: ScatterOptions = {}): SVGSVGElement {
  if (snapshots.length === 0) throw new Error("trajectory: no snapshots to draw");
  return scatterPlot(
    snapshots.map((s) => ({ title: `t = ${s.t.toFixed(2)}`, series: [{ points: s.x, color: colors.samples }] })),
    { size: 180, ...opts },
  );
}

function copy(x: Tensor): Tensor {
  return tensor(x.shape, Float32Array.from(x.data));
}
