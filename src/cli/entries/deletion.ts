import { z } from "zod";
import type { Denoiser } from "../../core/denoiser.js";
import { Rng } from "../../core/rng.js";
import { destruction } from "../../core/schedule.js";
import { tensor } from "../../core/tensor.js";
import { encode } from "../../data/text.js";
import { insertionTransformer } from "../../model/insertion.js";
import { deletion } from "../../processes/deletion.js";
import { deletionBound } from "../../text/deletion-bound.js";
import { deletionInfill, parseDeletionTemplate } from "../../text/deletion-infill.js";
import { insertionDenoiser, insertionObjective, insertionRates, networkInsertion, type InsertionModel } from "../../text/insertion.js";
import { choice, UsageError } from "../options.js";
import { registerProcess, type ProcessSetup } from "../registry.js";
import type { TextDataSet } from "./text.js";

/**
 * `--process delete` on text: deletion diffusion (src/processes/deletion.ts)
 * on sequences of varying length (with `--data text:<book>` the data comes
 * as phrases of up to 32 characters, --text-unit to change it), the
 * insertion Transformer (src/model/insertion.ts) as q(x0 | x_t), whose
 * width, depth and heads are the --network's (--tf-dim, --tf-layers,
 * --tf-heads); r = 0 by default (each step inserts part of the missing
 * characters); --nll is the continuous-time bound in bits per character
 * (src/text/deletion-bound.ts); --infill "Emma was _ and" inserts text of
 * any length at each `_`.
 */

/** The insertion model behind each denoiser built here (for --nll and --infill). */
const modelOf = new WeakMap<Denoiser, InsertionModel>();

registerProcess({
  name: "delete",
  description: "deletion: each token deleted with probability m(t), x_t the kept subsequence (sequences of varying length); an insertion Transformer proposes x0_hat",
  kinds: ["tokens"],
  sequences: "variable",
  flags: [{ key: "schedule", flag: "--schedule <name>", description: "destruction schedule m(t): linear or cosine (default linear)" }],
  options: z.object({ schedule: choice(["linear", "cosine"]).default("linear") }),
  build(o: { schedule: "linear" | "cosine" }, data): ProcessSetup {
    // Rows of varying length carry PAD = data.pad; fixed-length chunks have no PAD (every row is full).
    const V = data.pad ?? data.vocab!;
    const L = data.train.shape[1];
    const process = deletion({ vocab: V, schedule: o.schedule === "cosine" ? destruction.cosine() : destruction.linear(), decode: data.decode });
    const modelFor = (d: Denoiser, what: string) => {
      const m = modelOf.get(d);
      if (!m) throw new Error(`${process.name}: ${what} needs the insertion denoiser this process builds`);
      return m;
    };
    return {
      process,
      objective: insertionObjective(process, L),
      output: { kind: "logits", vocab: V },
      network(spec, chosen) {
        const c = chosen(spec).config as { dim?: number; heads?: number; layers?: number };
        return insertionTransformer({ vocab: V, maxLength: L, dim: c.dim, heads: c.heads, layers: c.layers });
      },
      denoiser(network, params) {
        const model = networkInsertion(network, params);
        const d = Object.assign(insertionDenoiser(model, process), { dispose: () => model.dispose() });
        modelOf.set(d, model);
        return d;
      },
      // Fixed (infilling) ids back to the characters they stand for.
      finish: (x) => tensor(x.shape, x.data.map((v) => (v > V ? v - V - 1 : v))),
      async nll(denoiser, rows, seed) {
        const r = await deletionBound(insertionRates(modelFor(denoiser, "--nll"), process.schedule), rows, V, { rng: new Rng(seed), draws: 2 });
        const chars = r.characters / rows.shape[0];
        return {
          nll: r.natsPerSeq,
          nllStderr: r.stderrBits * chars * Math.LN2,
          bitsPerDim: r.bitsPerChar,
          bitsPerDimStderr: r.stderrBits,
          method: "deletion bound (continuous-time insertion rates, score-entropy form), 2 deletion orders per row: bits/dim = bits per character",
        };
      },
      infillText(base, template) {
        const chars = (data as Partial<TextDataSet>).chars;
        if (!chars) throw new UsageError(`--infill needs a text model, this model's data is ${data.name}`);
        let parsed;
        try {
          parsed = parseDeletionTemplate(template, V, L, (s) => encode(s, { chars }, "--infill"));
        } catch (e) {
          throw new UsageError(`--infill: ${(e as Error).message.replace(/^infill: /, "")}`);
        }
        const { denoiser, start } = deletionInfill(modelFor(base, "--infill"), process, parsed);
        return { denoiser, start: (n) => start(n) };
      },
    };
  },
});
