import type { Denoiser } from "../core/denoiser.js";
import { padRows } from "../core/padded.js";
import type { Tensor } from "../core/tensor.js";
import type { DeletionProcess } from "../processes/deletion.js";
import { insertionDenoiser, type InsertionModel } from "./insertion.js";

/**
 * Infilling under deletion: a template such as "Emma was _ and _" keeps its
 * characters, in order, and `_` marks a place where text of ANY length
 * (possibly none) is inserted. The known characters are the process's
 * fixed tokens (id V+1+c for character c: never deleted, deletion.ts), so
 * sampling starts from them instead of the empty sequence, every x_t holds
 * them, and the denoiser inserts only into the gaps of the marked places
 * (src/text/insertion.ts, allowedGaps). It is a heuristic in the same sense
 * as infilling under replacement: the model was trained on free insertions,
 * and here its allocation is restricted to the marked places.
 */
export interface DeletionTemplate {
  /** The known characters as fixed ids, in order. */
  fixed: number[];
  /** open[i]: text may be inserted just before known character i (i = fixed.length: after the last). */
  open: boolean[];
}

/** Parse a template; `encode` maps the known characters (and reports unknown ones). */
export function parseDeletionTemplate(template: string, vocab: number, maxLength: number, encode: (text: string) => number[], unknown = "_"): DeletionTemplate {
  const chars = [...template];
  const ids = encode(chars.filter((c) => c !== unknown).join(""));
  if (ids.length > maxLength) throw new Error(`infill: the template has ${ids.length} known characters, more than the model's length ${maxLength}`);
  if (!chars.includes(unknown)) throw new Error(`infill: the template has no ${unknown} marking where to insert text`);
  const open = new Array<boolean>(ids.length + 1).fill(false);
  let i = 0;
  for (const c of chars) {
    if (c === unknown) open[i] = true;
    else i++;
  }
  return { fixed: ids.map((c) => vocab + 1 + c), open };
}

/** Which gaps of x_t may receive tokens: inside a marked place, i.e. next to an inserted token or between two known characters with a mark between them. */
export function allowedGaps(template: DeletionTemplate, fixed: (token: number) => boolean): (xt: ArrayLike<number>) => boolean[] {
  return (xt) => {
    const out: boolean[] = [];
    let seen = 0; // known characters before the gap
    for (let g = 0; g <= xt.length; g++) {
      const leftFree = g > 0 && !fixed(xt[g - 1]);
      const rightFree = g < xt.length && !fixed(xt[g]);
      out.push(leftFree || rightFree || template.open[seen]);
      if (g < xt.length && fixed(xt[g])) seen++;
    }
    return out;
  };
}

/** The denoiser and the start of infilling (see the file comment). */
export function deletionInfill(model: InsertionModel, process: DeletionProcess, template: DeletionTemplate): { denoiser: Denoiser; start(n: number): Tensor } {
  return {
    denoiser: insertionDenoiser(model, process, { allowedGaps: allowedGaps(template, process.fixed) }),
    start: (n) => padRows(new Array(n).fill(template.fixed), model.maxLength, process.pad),
  };
}
