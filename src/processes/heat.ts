import { blurLikeProcess, blurWidth, type BlurOptions, type BlurProcess, type SeparableBlur } from "./blur.js";

/**
 * Heat dissipation (Rissanen, Heinonen & Solin 2023, "Generative modelling
 * with inverse heat dissipation"): the image evolves under the heat equation
 * with Neumann (reflecting) boundaries, which is diagonal in the DCT-II basis:
 *   B_t(X) = D_H^T [ exp(-lambda_kl tau(t)) * (D_H X D_W^T) ] D_W,
 *   lambda_kl = pi^2 (k^2 / H^2 + l^2 / W^2),
 * with D_n the orthonormal DCT-II matrix D[k, i] = c_k cos(pi k (2i + 1) / (2n)),
 * c_0 = sqrt(1/n), c_k = sqrt(2/n). Since exp(-lambda_kl tau) factorises over
 * k and l, B_t is separable: A_n(tau) = D_n^T diag(exp(-pi^2 k^2 tau / n^2)) D_n.
 *
 * Time: tau(t) = sigma_B(t)^2 / 2 where sigma_B(t) grows geometrically from 0 to
 * sMax (blurWidth). The default sMax = sqrt(80) max(H, W) / pi makes the slowest
 * mode's factor exp(-40) ~ 4e-18 at t = 1, so B_1 keeps only the mean (k = l = 0).
 * Plus sigma eps as for blur.ts (posterior, kernel and data prior the same).
 */
export function dctMatrix(n: number): Float64Array {
  const d = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const c = k === 0 ? Math.sqrt(1 / n) : Math.sqrt(2 / n);
    for (let i = 0; i < n; i++) d[k * n + i] = c * Math.cos((Math.PI * k * (2 * i + 1)) / (2 * n));
  }
  return d;
}

/** A_n(tau) = D^T diag(exp(-pi^2 k^2 tau / n^2)) D. */
export function heatMatrix(n: number, tau: number): Float64Array {
  if (!(tau >= 0)) throw new Error(`heatMatrix: tau must be >= 0, got ${tau}`);
  const d = dctMatrix(n);
  const decay = Array.from({ length: n }, (_, k) => Math.exp(-((Math.PI * Math.PI * k * k) / (n * n)) * tau));
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += d[k * n + i] * decay[k] * d[k * n + j];
      a[i * n + j] = s;
    }
  }
  return a;
}

export function heatOperator(opts: { sMax?: number; s0?: number } = {}): SeparableBlur {
  return {
    name: "heat",
    matrices(t, h, w) {
      const sMax = opts.sMax ?? (Math.sqrt(80) * Math.max(h, w)) / Math.PI;
      const sb = blurWidth(t, sMax, opts.s0);
      const tau = (sb * sb) / 2;
      return { ah: heatMatrix(h, tau), aw: w === h ? heatMatrix(h, tau) : heatMatrix(w, tau) };
    },
  };
}

/** Inverse heat dissipation as a UDM process, cold (tiny sigma) or hot. */
export function heatProcess(opts: BlurOptions & { sMax?: number; s0?: number } = {}): BlurProcess {
  return blurLikeProcess("heat", heatOperator(opts), opts);
}
