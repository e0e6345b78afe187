import { numpy as np, type Array as JArray } from "@jax-js/jax";
import type { Params } from "./types.js";

/**
 * Adam (Kingma & Ba 2015, Algorithm 1) and an EMA of the weights, written in
 * jax-js so they run inside the jitted train step. Per weight, at step k >= 1:
 *   m = b1 m + (1 - b1) g
 *   v = b2 v + (1 - b2) g^2
 *   m_hat = m / (1 - b1^k),  v_hat = v / (1 - b2^k)
 *   p = p - lr m_hat / (sqrt(v_hat) + eps)
 * The step-dependent factors come in as traced scalars (see `adamScalars`), so
 * one compiled step serves every k and every learning rate.
 */

export interface AdamConfig {
  beta1: number;
  beta2: number;
  eps: number;
}

export const defaultAdam: AdamConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8 };

/** Adam's moments, one zero array per weight (does not consume params). */
export function adamInit(params: Params): { m: Params; v: Params } {
  const m: Params = {};
  const v: Params = {};
  for (const [k, p] of Object.entries(params)) {
    m[k] = np.zeros(p.shape);
    v[k] = np.zeros(p.shape);
  }
  return { m, v };
}

/** The host-side scalars of step k (1-based): [lr, 1 / (1 - b1^k), 1 / (1 - b2^k)]. */
export function adamScalars(cfg: AdamConfig, lr: number, k: number): [number, number, number] {
  if (!(Number.isInteger(k) && k >= 1)) throw new Error(`adam: step must be an integer >= 1, got ${k}`);
  return [lr, 1 / (1 - cfg.beta1 ** k), 1 / (1 - cfg.beta2 ** k)];
}

/**
 * One Adam update of every weight. Consumes params, grads, m, v and the three
 * scalars (lr, c1 = 1/(1-b1^k), c2 = 1/(1-b2^k)); returns the new trees.
 */
export function adamUpdate(
  cfg: AdamConfig,
  params: Params,
  grads: Params,
  m: Params,
  v: Params,
  lr: JArray,
  c1: JArray,
  c2: JArray,
): { params: Params; m: Params; v: Params } {
  const { beta1: b1, beta2: b2, eps } = cfg;
  const out = { params: {} as Params, m: {} as Params, v: {} as Params };
  for (const k of Object.keys(params)) {
    const g = grads[k];
    if (!g || !m[k] || !v[k]) throw new Error(`adam: no gradient/moment for weight "${k}"`);
    const m2 = m[k].mul(b1).add(g.ref.mul(1 - b1));
    const v2 = v[k].mul(b2).add(np.square(g).mul(1 - b2));
    const mHat = m2.ref.mul(c1.ref);
    const vHat = v2.ref.mul(c2.ref);
    out.params[k] = params[k].sub(mHat.mul(lr.ref).div(np.sqrt(vHat).add(eps)));
    out.m[k] = m2;
    out.v[k] = v2;
  }
  lr.dispose();
  c1.dispose();
  c2.dispose();
  return out;
}

/**
 * EMA of the weights: ema = decay * ema + (1 - decay) * params.
 * Consumes ema and params (pass tree.ref(params) to keep them) and decay.
 */
export function emaUpdate(ema: Params, params: Params, decay: JArray): Params {
  const out: Params = {};
  for (const k of Object.keys(ema)) {
    const p = params[k];
    if (!p) throw new Error(`ema: no weight named "${k}"`);
    out[k] = ema[k].mul(decay.ref).add(p.mul(decay.ref.neg().add(1)));
  }
  for (const k of Object.keys(params)) if (!(k in ema)) params[k].dispose();
  decay.dispose();
  return out;
}
