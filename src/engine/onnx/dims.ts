/**
 * Array dimensions of a lowered program. A traced jax-js program has fixed
 * shapes; an exported one may leave the batch free. A dimension is then
 * either a number or an affine function k * batch + c of the runtime batch
 * (found by tracing the program at several batch sizes, batch.ts).
 */
export interface Sym {
  readonly k: number;
  readonly c: number;
}
export type Dim = number | Sym;

export const isSym = (d: Dim): d is Sym => typeof d !== "number";

export function sym(k: number, c: number): Dim {
  return k === 0 ? c : { k, c };
}

export function dimEq(a: Dim, b: Dim): boolean {
  if (!isSym(a) || !isSym(b)) return a === b;
  return a.k === b.k && a.c === b.c;
}

export const shapeEq = (a: readonly Dim[], b: readonly Dim[]): boolean => a.length === b.length && a.every((d, i) => dimEq(d, b[i]));

/** The product of dimensions; at most one may depend on the batch. */
export function dimProd(dims: readonly Dim[]): Dim {
  let k = 0;
  let c = 1;
  let symbolic = false;
  for (const d of dims) {
    if (!isSym(d)) {
      k *= d;
      c *= d;
    } else {
      if (symbolic) throw new Error(`onnx lowering: a product of two batch-dependent dimensions (${dimsString(dims)}) is not supported`);
      symbolic = true;
      k = c * d.k;
      c = c * d.c;
    }
  }
  return symbolic ? sym(k, c) : c;
}

export function dimAdd(a: Dim, b: Dim): Dim {
  const [ka, ca] = isSym(a) ? [a.k, a.c] : [0, a];
  const [kb, cb] = isSym(b) ? [b.k, b.c] : [0, b];
  return sym(ka + kb, ca + cb);
}

/** Numpy broadcasting of two dimensions (1 stretches). */
export function dimBroadcast(a: Dim, b: Dim): Dim {
  if (dimEq(a, 1)) return b;
  if (dimEq(b, 1) || dimEq(a, b)) return a;
  throw new Error(`onnx lowering: dimensions ${dimString(a)} and ${dimString(b)} do not broadcast`);
}

/** Numpy broadcasting of shapes (right-aligned). */
export function shapeBroadcast(...shapes: (readonly Dim[])[]): Dim[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: Dim[] = new Array(rank).fill(1);
  for (const s of shapes) for (let i = 0; i < s.length; i++) out[rank - s.length + i] = dimBroadcast(out[rank - s.length + i], s[i]);
  return out;
}

export const dimString = (d: Dim): string => (!isSym(d) ? String(d) : `${d.k === 1 ? "" : `${d.k}*`}batch${d.c === 0 ? "" : d.c > 0 ? `+${d.c}` : d.c}`);
export const dimsString = (s: readonly Dim[]): string => `[${s.map(dimString).join(",")}]`;

/** The value of a dimension at a given batch size. */
export const dimAt = (d: Dim, batch: number): number => (isSym(d) ? d.k * batch + d.c : d);

/**
 * The affine dimension through (batch_i, value_i) for every trace i; throws
 * (naming `what`) when the values do not lie on one integer line.
 */
export function fitDim(batches: readonly number[], values: readonly number[], what: () => string): Dim {
  if (values.every((v) => v === values[0])) return values[0];
  const k = (values[1] - values[0]) / (batches[1] - batches[0]);
  const c = values[0] - k * batches[0];
  if (!Number.isInteger(k) || !Number.isInteger(c) || values.some((v, i) => v !== k * batches[i] + c)) {
    throw new Error(`onnx lowering: ${what()} is ${values.join(", ")} at batch ${batches.join(", ")}: not k * batch + c, cannot export a dynamic batch`);
  }
  return sym(k, c);
}
