import { tensor, type Tensor } from "./tensor.js";

/**
 * A batch of token sequences of varying length, as the whole library passes
 * it: a Tensor [B, Lmax] of ids where each row holds its tokens first and
 * then the PAD id up to Lmax. The length of a row is the position of its
 * first PAD. Nothing else changes shape, so the sampler, training and the
 * CLI handle these batches like any other Tensor; only the processes and
 * networks that care about lengths (deletion, the insertion Transformer)
 * read them. For a process over V data tokens, PAD is V.
 */

/** Rows of ids (each at most Lmax long) as a padded batch [B, Lmax]. */
export function padRows(rows: readonly ArrayLike<number>[], maxLength: number, pad: number): Tensor {
  const out = new Float32Array(rows.length * maxLength).fill(pad);
  rows.forEach((r, b) => {
    if (r.length > maxLength) throw new Error(`padRows: row ${b} has ${r.length} tokens, more than the maximum length ${maxLength}`);
    out.set(Array.from(r), b * maxLength);
  });
  return tensor([rows.length, maxLength], out);
}

/** Number of tokens before the first PAD in row b. */
export function rowLength(x: Tensor, b: number, pad: number): number {
  const L = x.shape[1];
  const off = b * L;
  let n = 0;
  while (n < L && x.data[off + n] !== pad) n++;
  return n;
}

/** The tokens of row b (a view, without the padding). */
export function rowTokens(x: Tensor, b: number, pad: number): Float32Array {
  const L = x.shape[1];
  return x.data.subarray(b * L, b * L + rowLength(x, b, pad));
}

/** Every row's length. */
export function rowLengths(x: Tensor, pad: number): Int32Array {
  return Int32Array.from({ length: x.shape[0] }, (_, b) => rowLength(x, b, pad));
}

/**
 * Check a padded batch: shape [B, Lmax], ids are integers in 0..maxId-1,
 * and after the first PAD of a row every entry is PAD.
 */
export function checkPadded(where: string, x: { shape: readonly number[]; data: Float32Array }, pad: number, maxId = pad): void {
  if (x.shape.length !== 2) throw new Error(`${where}: sequence batches have shape [B, Lmax], got [${x.shape.join(", ")}]`);
  const L = x.shape[1];
  for (let b = 0; b < x.shape[0]; b++) {
    let ended = false;
    for (let i = 0; i < L; i++) {
      const v = x.data[b * L + i];
      if (v === pad) ended = true;
      else if (ended) throw new Error(`${where}: row ${b} has token ${v} at position ${i} after its end (PAD = ${pad} must only follow the tokens)`);
      else if (!(Number.isInteger(v) && v >= 0 && v < maxId && v !== pad)) {
        throw new Error(`${where}: row ${b} position ${i} is ${v}; token ids must be integers in 0..${maxId - 1} other than PAD = ${pad}`);
      }
    }
  }
}
