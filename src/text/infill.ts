import type { Denoiser } from "../core/denoiser.js";
import type { Rng } from "../core/rng.js";
import { tensor, type Tensor } from "../core/tensor.js";

/**
 * Infilling: some characters of x0 are given and must appear in the sample.
 * The sampler is unchanged; only the denoiser is wrapped:
 *   1. show the known tokens to the base denoiser (write them into x_t),
 *   2. force them in its prediction x0_hat.
 *
 * Why this is exact for masking: the target is p(x0 | x0_K = c). Masks are
 * drawn without looking at the content, so the posterior given the visible
 * tokens of x_t AND x0_K = c is the posterior of an x_t in which K is also
 * visible, which is what step 1 asks the base denoiser for; step 2 is the
 * certainty of x0_K. This is the exact denoiser of the conditional data, and
 * the one sampler with an exact denoiser samples its data exactly (tested
 * with the enumerable oracle in test/masking.test.ts).
 * Under replacement, a visible token does not prove x0 (it may be a
 * replacement), so the same wrapper is a heuristic there.
 */

/**
 * How the known tokens are shown to the base denoiser in x_t. The default
 * writes the ids (token processes); a process whose x_t is not token ids
 * (encoding) shows them its own way.
 */
export type ShowKnown = (xt: Tensor, known: Tensor, t: number, rng: Rng) => Tensor;

/** Known tokens [L] or [B, L], with -1 (or any negative value) where unknown. */
export function infillDenoiser(base: Denoiser, known: Tensor, show: ShowKnown = (xt) => writeKnown(xt, known)): Denoiser {
  return {
    async sample(xt: Tensor, t: number, rng: Rng): Promise<Tensor> {
      return writeKnown(await base.sample(show(xt, known, t, rng), t, rng), known);
    },
  };
}

/** Token ids [B, L] with the known ones written in. */
export function writeKnown(x: Tensor, known: Tensor): Tensor {
  const L = x.shape[x.shape.length - 1];
  const perRow = known.data.length === L;
  if (!perRow && known.data.length !== x.data.length) {
    throw new Error(`infill: known tokens have shape [${known.shape.join(", ")}], the batch is [${x.shape.join(", ")}] (need [L] or the batch's shape)`);
  }
  const out = Float32Array.from(x.data);
  for (let i = 0; i < out.length; i++) {
    const k = known.data[perRow ? i % L : i];
    if (k >= 0) out[i] = k;
  }
  return tensor(x.shape, out);
}

/**
 * Parse a template such as "The ____ of" into known ids (-1 at each
 * `unknown` character: one unknown token), padded with unknowns to
 * `length`. `encode` maps each run of known text to its ids (one per
 * character, or fewer for byte-pair tokens) and reports text outside the
 * vocabulary.
 */
export function parseTemplate(template: string, length: number, encode: (text: string) => number[], unknown = "_"): Tensor {
  const runs = template.split(unknown).map((run, i) => (i === 0 ? run : [unknown, run])).flat();
  // Encode all known text at once first, so unknown characters are reported together.
  encode(runs.filter((r) => r !== unknown).join(""));
  const ids = runs.flatMap((r) => (r === unknown ? [-1] : r === "" ? [] : encode(r)));
  if (ids.length > length) throw new Error(`infill: the template has ${ids.length} ${ids.length === [...template].length ? "characters" : "tokens"}, more than the model's length ${length}`);
  const known = new Float32Array(length).fill(-1);
  known.set(ids);
  return tensor([length], known);
}
