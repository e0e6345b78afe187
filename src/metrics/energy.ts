import { Rng } from "../core/rng.js";
import { itemSize, type Tensor } from "../core/tensor.js";

/**
 * Energy distance between two samples (Szekely & Rizzo):
 * 2 E|X - Y| - E|X - X'| - E|Y - Y'| (V-statistic), zero iff the laws agree.
 */
export function energyDistance(x: Tensor, y: Tensor): number {
  const { dist, nx } = pooledDistances(x, y);
  return edFromLabels(dist, nx + y.shape[0], identityLabels(nx, y.shape[0]));
}

/**
 * Energy distance with its permutation null: the statistic, the null
 * quantiles and a p-value, all from a fixed seed so a test is repeatable.
 */
export function energyTest(x: Tensor, y: Tensor, permutations = 200, seed = 0): { statistic: number; pValue: number; null95: number; null99: number } {
  const { dist, nx } = pooledDistances(x, y);
  const n = nx + y.shape[0];
  const statistic = edFromLabels(dist, n, identityLabels(nx, y.shape[0]));
  const rng = new Rng(seed);
  const nulls: number[] = [];
  for (let p = 0; p < permutations; p++) {
    const perm = rng.permutation(n);
    const labels = new Uint8Array(n);
    for (let i = 0; i < nx; i++) labels[perm[i]] = 1;
    nulls.push(edFromLabels(dist, n, labels));
  }
  nulls.sort((a, b) => a - b);
  const above = nulls.filter((v) => v >= statistic).length;
  const q = (f: number) => nulls[Math.min(nulls.length - 1, Math.floor(f * nulls.length))];
  return { statistic, pValue: (above + 1) / (permutations + 1), null95: q(0.95), null99: q(0.99) };
}

function identityLabels(nx: number, ny: number): Uint8Array {
  const l = new Uint8Array(nx + ny);
  l.fill(1, 0, nx);
  return l;
}

function pooledDistances(x: Tensor, y: Tensor): { dist: Float32Array; nx: number } {
  const d = itemSize(x);
  if (itemSize(y) !== d) throw new Error(`energyDistance: samples have different dimensions (${d} vs ${itemSize(y)})`);
  const nx = x.shape[0];
  const n = nx + y.shape[0];
  const pts = new Float32Array(n * d);
  pts.set(x.data, 0);
  pts.set(y.data, nx * d);
  const dist = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) {
        const u = pts[i * d + k] - pts[j * d + k];
        s += u * u;
      }
      dist[i * n + j] = dist[j * n + i] = Math.sqrt(s);
    }
  }
  return { dist, nx };
}

/** Energy distance for the split given by labels (1 = first sample). */
function edFromLabels(dist: Float32Array, n: number, labels: Uint8Array): number {
  let sxy = 0, sxx = 0, syy = 0, nx = 0;
  for (let i = 0; i < n; i++) nx += labels[i];
  const ny = n - nx;
  for (let i = 0; i < n; i++) {
    const li = labels[i];
    const row = i * n;
    for (let j = 0; j < n; j++) {
      const v = dist[row + j];
      if (li !== labels[j]) sxy += v;
      else if (li) sxx += v;
      else syy += v;
    }
  }
  // sxy counted both orders.
  return (sxy / 2) * 2 / (nx * ny) - sxx / (nx * nx) - syy / (ny * ny);
}
