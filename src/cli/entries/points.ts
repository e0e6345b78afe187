import { join } from "node:path";
import { Rng } from "../../core/rng.js";
import { gatherBatch, itemSize, tensor, type Tensor } from "../../core/tensor.js";
import { readPointsCsv } from "../../data/csv.js";
import { toy2d, toy2dNames } from "../../data/toy2d.js";
import { writeFileAtomic } from "../../viz/files.js";
import { dataVsSamples } from "../../viz/scatter.js";
import { trajectoryPicture } from "../../viz/trajectory.js";
import { registerData, type DataSet } from "../registry.js";

/** The 2-D data sets: the toy sets and a user's CSV (csv:<path>). */

/** Held-out rows get their own seed stream, never the training points. */
const HELD_OUT_SEED = 1_000_003;

for (const name of toy2dNames) {
  registerData({
    name,
    kind: "points",
    description: `2-D toy set "${name}" (unit scale)`,
    load: ({ n, heldOut, seed }) => pointsDataSet(name, toy2d(name, n, seed), toy2d(name, heldOut, seed + HELD_OUT_SEED)),
    restore: ({ train, heldOut }) => pointsDataSet(name, train, heldOut),
  });
}

registerData({
  name: "csv",
  arg: "path",
  kind: "points",
  description: "2-D points from a CSV file (x,y per row, optional header); standardised per column for training, samples written back in the file's units",
  load: ({ arg, heldOut, seed }) => {
    const path = arg!;
    const all = readPointsCsv(path, 2);
    const n = all.shape[0];
    if (n < 10) throw new Error(`${path}: needs at least 10 points (train + held-out), has ${n}`);
    // A seeded split: at most `heldOut` rows and at most a fifth of the file are held out.
    const perm = new Rng(seed).permutation(n);
    const m = Math.max(1, Math.min(heldOut, Math.floor(n / 5)));
    const scale = columnScale(all);
    const standard = toStandard(all, scale);
    return csvDataSet(path, gatherBatch(standard, perm.subarray(m)), gatherBatch(standard, perm.subarray(0, m)), scale);
  },
  // The checkpoint keeps the column scale: an edited or moved CSV changes nothing when sampling.
  restore: ({ arg, train, heldOut, state }) => csvDataSet(arg!, train, heldOut, checkScale(state, train.shape[1])),
});

/** CSV points are trained standardised; samples are written back in the file's units. */
function csvDataSet(path: string, train: Tensor, heldOut: Tensor, scale: ColumnScale): DataSet {
  return {
    ...pointsDataSet(`csv:${path}`, train, heldOut),
    writeSamples: (samples, dir) => writeCsv(fromStandard(samples, scale), dir),
    state: { ...scale },
  };
}

/** A points DataSet with the standard pictures and CSV output. */
export function pointsDataSet(name: string, train: Tensor, heldOut: Tensor): DataSet {
  return {
    kind: "points",
    name,
    train,
    heldOut,
    picture: (samples, title) => dataVsSamples(heldOut, samples, title),
    trajectory: (snapshots) => trajectoryPicture(snapshots),
    writeSamples: (samples, dir) => writeCsv(samples, dir),
  };
}

function writeCsv(samples: Tensor, dir: string): string[] {
  const d = itemSize(samples);
  const header = d === 2 ? "x,y" : Array.from({ length: d }, (_, j) => `x${j}`).join(",");
  const lines = [header];
  for (let i = 0; i < samples.shape[0]; i++) lines.push(Array.from(samples.data.subarray(i * d, i * d + d), (v) => String(v)).join(","));
  const file = join(dir, "samples.csv");
  writeFileAtomic(file, lines.join("\n") + "\n");
  return [file];
}

/** Per-column mean and std of the training file: the map to standard units and back. */
interface ColumnScale {
  mean: number[];
  std: number[];
}

function columnScale(x: Tensor): ColumnScale {
  const d = itemSize(x), n = x.shape[0];
  const mean = new Array<number>(d).fill(0), std = new Array<number>(d).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x.data[i * d + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) std[j] += (x.data[i * d + j] - mean[j]) ** 2 / n;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]) || 1; // a constant column stays as is
  return { mean, std };
}

function checkScale(state: Record<string, unknown> | undefined, d: number): ColumnScale {
  const ok = (v: unknown) => Array.isArray(v) && v.length === d && v.every((x) => Number.isFinite(x));
  if (!state || !ok(state.mean) || !ok(state.std)) throw new Error(`the checkpoint's CSV scale (data state) must hold mean and std lists of ${d} numbers, got ${JSON.stringify(state)}`);
  return { mean: state.mean as number[], std: state.std as number[] };
}

const affine = (y: Tensor, d: number, f: (v: number, j: number) => number) => tensor(y.shape, y.data.map((v, i) => f(v, i % d)));
const toStandard = (x: Tensor, s: ColumnScale) => affine(x, s.mean.length, (v, j) => (v - s.mean[j]) / s.std[j]);
const fromStandard = (y: Tensor, s: ColumnScale) => affine(y, s.mean.length, (v, j) => v * s.std[j] + s.mean[j]);
