/**
 * A host-side batch of data: a flat Float32Array with a shape whose first axis
 * is the batch. Processes and the sampler work on these; only networks move
 * data into jax-js. Token ids are stored as exact small integers.
 */
export interface Tensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export function tensor(shape: readonly number[], data?: Float32Array | ArrayLike<number>): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const buf = data === undefined ? new Float32Array(size) : data instanceof Float32Array ? data : Float32Array.from(data);
  if (buf.length !== size) throw new Error(`tensor: shape [${shape.join(", ")}] needs ${size} values, got ${buf.length}`);
  return { shape: [...shape], data: buf };
}

export const batchSize = (x: Tensor): number => x.shape[0];
export const itemSize = (x: Tensor): number => x.data.length / x.shape[0];

export function zerosLike(x: Tensor): Tensor {
  return tensor(x.shape);
}

/** Elementwise map over one or more same-shaped tensors. */
export function map(xs: Tensor[], f: (vals: number[], index: number) => number): Tensor {
  const out = new Float32Array(xs[0].data.length);
  const vals = new Array<number>(xs.length);
  for (let i = 0; i < out.length; i++) {
    for (let k = 0; k < xs.length; k++) vals[k] = xs[k].data[i];
    out[i] = f(vals, i);
  }
  return tensor(xs[0].shape, out);
}

/** Rows [start, end) of a batch. */
export function sliceBatch(x: Tensor, start: number, end: number): Tensor {
  const d = itemSize(x);
  return tensor([end - start, ...x.shape.slice(1)], x.data.slice(start * d, end * d));
}

export function concatBatch(xs: Tensor[]): Tensor {
  const n = xs.reduce((a, x) => a + x.shape[0], 0);
  const out = new Float32Array(xs.reduce((a, x) => a + x.data.length, 0));
  let o = 0;
  for (const x of xs) {
    out.set(x.data, o);
    o += x.data.length;
  }
  return tensor([n, ...xs[0].shape.slice(1)], out);
}

/** Pick rows by index (with repetition). */
export function gatherBatch(x: Tensor, idx: ArrayLike<number>): Tensor {
  const d = itemSize(x);
  const out = new Float32Array(idx.length * d);
  for (let i = 0; i < idx.length; i++) out.set(x.data.subarray(idx[i] * d, idx[i] * d + d), i * d);
  return tensor([idx.length, ...x.shape.slice(1)], out);
}
