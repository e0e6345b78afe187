import { join } from "node:path";
import { Command } from "commander";
import type { Tensor } from "../core/tensor.js";
import { writeFileAtomic } from "../viz/files.js";
import { addFlags, checkPreset, sampleFlags, sampleSchema, toSampleRequest } from "./common.js";
import { UsageError, bool, check, choice, readOptions, real, rejectUnknown, text } from "./options.js";
import { conditionModel, disposeModel, drawSamples, loadModel, samplingSteps, type Model, useEngine } from "./pipeline.js";
import { prepareOutFolder } from "./run-folder.js";
import { inpaintImages } from "./inpaint.js";
import { REGIONS } from "../images/inpaint.js";
import type { ClassCondition } from "../train/network-denoiser.js";
import { textInfill } from "./entries/text.js";
import { infillDenoiser } from "../text/infill.js";

const schema = sampleSchema.extend({
  checkpoint: text("a checkpoint folder"),
  out: text().optional(),
  format: choice(["auto", "csv", "json"]).default("auto"),
  trajectory: bool().default(false),
  infill: text("a template such as \"Emma was ____ and\"").optional(),
  class: text("a class id, a class name, or all").optional(),
  guidance: real(0, 1000).optional(),
  inpaint: text("a PNG file or a folder of PNGs").optional(),
  mask: text(`a PNG file or a region (${REGIONS.join(", ")})`).optional(),
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
    .option("--infill <template>", "text models: keep these characters fixed, _ marks each unknown one (e.g. \"Emma was ____ and\"); under --process delete each _ is a place for text of any length")
    .option("--class <c>", "class-conditional models: the class to draw (id or name), or all (row i draws class i mod classes)")
    .option("--guidance <w>", "classifier-free guidance weight w >= 0 with --class (default 0)")
    .option("--inpaint <png>", "image models: complete this PNG (or each PNG of a folder); writes inpaint.png; -n is completions per image (default 8)")
    .option("--mask <png|region>", `with --inpaint: the pixels to fill, light pixels of a PNG or a region: ${REGIONS.join(", ")}`);
  addFlags(cmd, sampleFlags);
  return cmd.action(async (flags: Record<string, unknown>) => {
    const raw = readOptions(flags, flags.config as string | undefined);
    rejectUnknown(raw, [...Object.keys(schema.shape), "config"], "udm sample");
    const o = check(schema, raw);
    if ((o.inpaint === undefined) !== (o.mask === undefined)) throw new UsageError("--inpaint and --mask go together: give the image(s) and the pixels to fill");
    if (o.guidance !== undefined && o.class === undefined) throw new UsageError("--guidance needs --class (the class to guide towards)");
    useEngine(o.engine, undefined, o.threads);
    const model = await loadModel(o.checkpoint, o.ema);
    try {
      checkPreset(o.preset, model.setup.presets, model.spec.process.name);
      if (o.class !== undefined) conditionModel(model, classCondition(model, o.class, o.guidance, o.count));
      const steps = samplingSteps(model, o);
      if (o.inpaint !== undefined) {
        const out = o.out ?? join(model.runDir, "inpaint");
        prepareOutFolder(out, { create: false });
        const perImage = raw.sources.count ? o.count : 8;
        const res = await inpaintImages(model, { ...toSampleRequest(o), images: o.inpaint, mask: o.mask!, perImage });
        const png = join(out, "inpaint.png");
        res.picture.save(png);
        const files = [...writeSamples(model.data, res.samples, out, "json"), png];
        console.log(`${res.samples.shape[0]} completions (${perImage} per image), ${res.label}, ${steps} ${o.grid} steps in ${res.seconds.toFixed(2)} s`);
        for (const f of files) console.log(`wrote ${f}`);
        return;
      }
      if (o.format === "csv" && model.data.kind !== "points") throw new UsageError(`--format csv needs points data, this model's data is ${model.data.kind}`);
      // Infilling only wraps the denoiser: the sampler and the process are unchanged (src/text/infill.ts).
      if (o.infill !== undefined) {
        const base = model.denoiser;
        const setup = model.setup;
        if (setup.infillText) {
          // Deletion: `_` is a place for text of any length; sampling starts from the known characters.
          const { denoiser, start } = setup.infillText(base, o.infill);
          model.denoiser = Object.assign(denoiser, { dispose: () => base.dispose?.() });
          model.setup = { ...setup, start: (n, rng) => start(n, rng) };
        } else {
          const infill = setup.infill ?? infillDenoiser;
          model.denoiser = Object.assign(infill(base, textInfill(model.data, o.infill)), { dispose: () => base.dispose?.() });
        }
      }
      const how = o.sampler !== "generic" ? o.sampler : (o.preset ?? (o.r !== undefined ? `r${o.r}` : model.setup.presets?.[0] ?? "r0"));
      const tag = slug(how) + (o.class !== undefined ? `-class-${slug(o.class)}${o.guidance ? `-w${o.guidance}` : ""}` : "");
      const out = o.out ?? join(model.runDir, `samples-${tag}`);
      // Checked before sampling (which may take long); the folder is made when the samples are written.
      prepareOutFolder(out, { create: false });
      const res = await drawSamples(model, toSampleRequest(o, o.trajectory));
      const files = writeSamples(model.data, res.samples, out, o.format);
      if (model.data.picture) {
        const png = join(out, "samples.png");
        const what = o.class !== undefined ? `class ${o.class}${o.guidance ? `, guidance ${o.guidance}` : ""}, ` : "";
        model.data.picture(res.samples, `${what}${res.label}, ${steps} steps`).save(png);
        files.push(png);
      }
      if (res.snapshots && model.data.trajectory) {
        const png = join(out, "trajectory.png");
        model.data.trajectory(res.snapshots).save(png);
        files.push(png);
      }
      console.log(`${res.samples.shape[0]} samples, ${res.label}, ${steps} ${o.grid} steps in ${res.seconds.toFixed(2)} s`);
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

/**
 * The labels of a class-conditional model for --class: one id (a number or a
 * class name) for every sample, or "all": sample i gets class i mod classes.
 */
function classCondition(model: Model, value: string, guidance: number | undefined, n: number): ClassCondition {
  const classes = model.network.config.classes;
  if (typeof classes !== "number") throw new UsageError(`--class: this model was trained without class labels (train it with --conditional)`);
  if (value === "all") return { label: Float32Array.from({ length: n }, (_, i) => i % classes), classes, guidance };
  const names = model.data.classNames ?? [];
  const byName = names.findIndex((c) => c.toLowerCase() === value.toLowerCase());
  const id = /^\d+$/.test(value) ? Number(value) : byName;
  if (!(id >= 0 && id < classes)) {
    throw new UsageError(`--class must be a class id 0..${classes - 1}${names.length ? `, a class name (${names.join(", ")})` : ""} or all, got ${JSON.stringify(value)}`);
  }
  return { label: id, classes, guidance };
}

function slug(s: string): string {
  return s.replace(/[^a-z0-9.-]+/gi, "-");
}

