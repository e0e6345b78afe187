import { join } from "node:path";
import { Command } from "commander";
import type { Tensor } from "../core/tensor.js";
import { writeFileAtomic } from "../viz/files.js";
import { addFlags, checkPreset, sampleFlags, sampleSchema, toSampleRequest } from "./common.js";
import { UsageError, bool, check, choice, readOptions, rejectUnknown, text } from "./options.js";
import { disposeModel, drawSamples, loadModel } from "./pipeline.js";
import { textInfill } from "./entries/text.js";
import { infillDenoiser } from "../text/infill.js";

const schema = sampleSchema.extend({
  checkpoint: text("a checkpoint folder"),
  out: text().optional(),
  format: choice(["auto", "csv", "json"]).default("auto"),
  trajectory: bool().default(false),
  infill: text("a template such as \"Emma was ____ and\"").optional(),
});

/** `udm sample`: draw samples from a checkpoint with a sampler preset; writes samples + pictures. */
export function sampleCommand(): Command {
  const cmd = new Command("sample")
    .description("sample from a trained checkpoint; writes samples.csv/json and samples.png (and trajectory.png)")
    .option("--config <file>", "JSON file of options (keys as the flags in camelCase; flags win)")
    .option("--checkpoint <dir>", "checkpoint folder, or the run folder holding it (required)")
    .option("--out <dir>", "output folder (default: RUN/samples-PRESET next to the checkpoint)")
    .option("--format <kind>", "samples file: auto (the data's own: CSV for points), csv or json (default auto)")
    .option("--trajectory", "also draw x_t along the sampling run (trajectory.png)")
    .option("--infill <template>", "text models: keep these characters fixed, _ marks each unknown one (e.g. \"Emma was ____ and\")");
  addFlags(cmd, sampleFlags);
  return cmd.action(async (flags: Record<string, unknown>) => {
    const raw = readOptions(flags, flags.config as string | undefined);
    rejectUnknown(raw, [...Object.keys(schema.shape), "config"], "udm sample");
    const o = check(schema, raw);
    const model = await loadModel(o.checkpoint, o.ema);
    try {
      checkPreset(o.preset, model.setup.presets, model.spec.process.name);
      if (o.format === "csv" && model.data.kind !== "points") throw new UsageError(`--format csv needs points data, this model's data is ${model.data.kind}`);
      // Infilling only wraps the denoiser: the sampler and the process are unchanged (src/text/infill.ts).
      if (o.infill !== undefined) {
        const base = model.denoiser;
        const infill = model.setup.infill ?? infillDenoiser;
        model.denoiser = Object.assign(infill(base, textInfill(model.data, o.infill)), { dispose: () => base.dispose?.() });
      }
      const res = await drawSamples(model, toSampleRequest(o, o.trajectory));
      const out = o.out ?? join(model.runDir, `samples-${slug(o.preset ?? (o.r !== undefined ? `r${o.r}` : model.setup.presets?.[0] ?? "r0"))}`);
      const files = writeSamples(model.data, res.samples, out, o.format);
      if (model.data.picture) {
        const png = join(out, "samples.png");
        model.data.picture(res.samples, `${res.label}, ${o.steps} steps`).save(png);
        files.push(png);
      }
      if (res.snapshots && model.data.trajectory) {
        const png = join(out, "trajectory.png");
        model.data.trajectory(res.snapshots).save(png);
        files.push(png);
      }
      console.log(`${res.samples.shape[0]} samples, ${res.label}, ${o.steps} ${o.grid} steps in ${res.seconds.toFixed(2)} s`);
      for (const f of files) console.log(`wrote ${f}`);
    } finally {
      disposeModel(model);
    }
  });
}

/** Samples in the data's own format, or as JSON {shape, data}. */
export function writeSamples(data: { writeSamples?: (s: Tensor, dir: string) => string[] }, samples: Tensor, dir: string, format: "auto" | "csv" | "json"): string[] {
  if (format !== "json" && data.writeSamples) return data.writeSamples(samples, dir);
  const file = join(dir, "samples.json");
  writeFileAtomic(file, JSON.stringify({ shape: samples.shape, data: Array.from(samples.data) }) + "\n");
  return [file];
}

function slug(s: string): string {
  return s.replace(/[^a-z0-9.-]+/gi, "-");
}

