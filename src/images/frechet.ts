/**
 * The Frechet distance between Gaussians fitted to feature vectors
 * (FID-style, Heusel et al. 2017):
 *   FD = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2),
 * with matrix square roots by a symmetric Jacobi eigen-decomposition, and
 * the entropy of a histogram of predicted classes. Plain JS, float64.
 */

/** Mean and (unbiased) covariance of row vectors. */
export function meanCov(rows: readonly Float64Array[]): { mean: Float64Array; cov: Float64Array } {
  const n = rows.length, d = rows[0].length;
  if (n < 2) throw new Error(`meanCov: needs at least 2 rows, got ${n}`);
  const mean = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += r[j] / n;
  const cov = new Float64Array(d * d);
  for (const r of rows) {
    for (let i = 0; i < d; i++) {
      const di = r[i] - mean[i];
      for (let j = i; j < d; j++) cov[i * d + j] += (di * (r[j] - mean[j])) / (n - 1);
    }
  }
  for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[i * d + j] = cov[j * d + i];
  return { mean, cov };
}

/**
 * Eigen-decomposition of a symmetric d x d matrix by cyclic Jacobi rotations:
 * A = V diag(values) V^T, V's columns the eigenvectors.
 */
export function symmetricEigen(a: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const A = Float64Array.from(a);
  const V = new Float64Array(d * d);
  for (let i = 0; i < d; i++) V[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0, total = 0;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) (i === j ? (total += A[i * d + j] ** 2) : (off += A[i * d + j] ** 2));
    if (off <= 1e-22 * (total + off) || off < 1e-300) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = A[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (A[q * d + q] - A[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = A[k * d + p], akq = A[k * d + q];
          A[k * d + p] = c * akp - s * akq;
          A[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = A[p * d + k], aqk = A[q * d + k];
          A[p * d + k] = c * apk - s * aqk;
          A[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = V[k * d + p], vkq = V[k * d + q];
          V[k * d + p] = c * vkp - s * vkq;
          V[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: d }, (_, i) => A[i * d + i]), vectors: V };
}

/** Square root of a symmetric positive semi-definite matrix (negative eigenvalues from rounding clipped to 0). */
export function sqrtPsd(a: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(a, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const s = Math.sqrt(Math.max(values[k], 0));
    if (s === 0) continue;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) out[i * d + j] += vectors[i * d + k] * s * vectors[j * d + k];
  }
  return out;
}

function matmul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) {
    const aik = a[i * d + k];
    for (let j = 0; j < d; j++) out[i * d + j] += aik * b[k * d + j];
  }
  return out;
}

/** Frechet distance between N(mu1, S1) and N(mu2, S2). */
export function frechetDistance(mu1: Float64Array, s1: Float64Array, mu2: Float64Array, s2: Float64Array): number {
  const d = mu1.length;
  let fd = 0;
  for (let i = 0; i < d; i++) fd += (mu1[i] - mu2[i]) ** 2;
  const r1 = sqrtPsd(s1, d);
  const cross = sqrtPsd(matmul(matmul(r1, s2, d), r1, d), d);
  for (let i = 0; i < d; i++) fd += s1[i * d + i] + s2[i * d + i] - 2 * cross[i * d + i];
  return Math.max(fd, 0);
}

/** Entropy (nats) of the histogram of classes. */
export function classEntropy(predictions: ArrayLike<number>, classes = 10): number {
  const counts = new Float64Array(classes);
  for (let i = 0; i < predictions.length; i++) counts[predictions[i]]++;
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / predictions.length) * Math.log(c / predictions.length);
  return h;
}
