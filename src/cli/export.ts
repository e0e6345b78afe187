import { existsSync } from "node:fs";
import { basename } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import type { Process } from "../core/process.js";
import type { NoiseSchedule } from "../core/schedule.js";
import type { ExportedForward } from "../engine/export.js";
import { writeFileAtomic } from "../viz/files.js";
import { UsageError, bool, check, readOptions, rejectUnknown, text } from "./options.js";
import { disposeModel, loadModel, type Model } from "./pipeline.js";

const schema = z.object({
  checkpoint: text("a checkpoint folder"),
  onnx: text("a file name ending in .onnx"),
  ema: bool().default(true),
  force: bool().default(false),
});

/**
 * `udm export`: the denoiser network's forward as an ONNX model with a free
 * batch (inputs x_t and t, output "output"; see src/engine/export.ts) and,
 * beside it, OUT.json: the inputs and output, the process and its schedule
 * tabulated on the time grid, the objective (how the output becomes x0_hat)
 * and the data scaling: what another runtime needs to sample.
 */
export function exportCommand(): Command {
  return new Command("export")
    .description("write the trained network's forward as an ONNX model (x_t, t -> output; any batch) and OUT.json with the process and schedule")
    .option("--config <file>", "JSON file of options (keys as the flags in camelCase; flags win)")
    .option("--checkpoint <dir>", "checkpoint folder, or the run folder holding it (required)")
    .option("--onnx <file>", "the model file to write, e.g. model.onnx (required); model.json goes beside it")
    .option("--ema <bool>", "export the EMA weights (default true)")
    .option("--force", "replace the files if they exist")
    .action(async (flags: Record<string, unknown>) => {
      const raw = readOptions(flags, flags.config as string | undefined);
      rejectUnknown(raw, [...Object.keys(schema.shape), "config"], "udm export");
      const o = check(schema, raw);
      if (!o.onnx.endsWith(".onnx")) throw new UsageError(`--onnx must name a file ending in .onnx, got ${JSON.stringify(o.onnx)}`);
      const json = o.onnx.replace(/\.onnx$/, ".json");
      for (const f of [o.onnx, json]) if (existsSync(f) && !o.force) throw new UsageError(`--onnx: ${f} already exists; pass --force to replace it`);
      const model = await loadModel(o.checkpoint, o.ema);
      try {
        const conditional = typeof model.network.config.classes === "number";
        // Loaded here, not at start-up: it loads onnxruntime-node, which the other commands may do without.
        const { exportForward } = await import("../engine/export.js");
        const exported = await exportForward(model.network, model.params, inputShape(model), { conditional });
        writeFileAtomic(o.onnx, exported.model);
        writeFileAtomic(json, prettyJson(describe(model, exported, o.onnx, o.ema)));
        console.log(`wrote ${o.onnx} (${(exported.model.length / 2 ** 20).toFixed(2)} MiB; inputs ${exported.inputs.map((i) => `${i.name} [${i.shape}]`).join(", ")}; output [${exported.output.shape}])`);
        console.log(`wrote ${json}`);
      } finally {
        disposeModel(model);
      }
    });
}

/** One x_t item as the network sees it when sampling. */
const inputShape = (m: Model): readonly number[] => m.setup.inputShape ?? m.data.train.shape.slice(1);

/** Points of the time grid at which the schedule is tabulated. */
const SCHEDULE_POINTS = 1000;

function describe(m: Model, e: ExportedForward, file: string, ema: boolean) {
  const p: Process<unknown, unknown> = m.setup.process;
  const meaning: Record<string, string> = {
    x_t: "the noisy data at time t, in the data's scale (see data)",
    t: "time in [0, 1]: 0 is the data, 1 fully destroyed",
    class: `class id per row, 0 .. ${Number(m.network.config.classes) - 1}; ${m.network.config.classes} is the null label (unconditional)`,
  };
  return {
    format: "udm-onnx",
    version: 1,
    model: basename(file),
    inputs: e.inputs.map((i) => ({ ...i, dtype: "float32", meaning: meaning[i.name] })),
    output: { ...e.output, dtype: "float32", meaning: outputMeaning(m) },
    network: m.config.network,
    weights: { which: ema ? "ema" : "params", step: m.config.step, checkpoint: m.dir },
    objective: m.config.objective,
    process: { name: m.spec.process.name, options: m.spec.process.options, id: p.name, time: p.time, schedule: scheduleTable(p) },
    data: {
      name: m.spec.data,
      kind: m.data.kind,
      itemShape: m.data.train.shape.slice(1),
      ...(m.data.vocab !== undefined ? { vocab: m.data.vocab } : {}),
      ...(m.data.classNames ? { classes: m.data.classNames } : {}),
      ...(m.data.kind === "image" ? { scale: "x0 in [-1, 1]: pixel byte = (x0 + 1) * 255 / 2" } : {}),
    },
    sampler: { presets: m.setup.presets ?? [], note: "DESIGN.md: predict x0_hat from the output, then x_s = F_s(x0_hat, K_r(posterior noise)); the preset sets r" },
  };
}

function outputMeaning(m: Model): string {
  if (m.setup.output.kind === "logits") return `logits over ${m.setup.output.vocab} values per position: softmax = q(x0 | x_t)`;
  const param = m.config.objective.parameterization;
  if (param === "eps") return "eps_hat, the noise: x0_hat = (x_t - b(t) eps_hat) / a(t)";
  if (param === "v") return "v_hat = a(t) eps - b(t) x0: x0_hat = (a(t) x_t - b(t) v_hat) / (a(t)^2 + b(t)^2)";
  return "x0_hat, the network's estimate of the data x0";
}

/** The schedule on the time grid: m(t) for every process, a(t) and b(t) for the Gaussian one. */
function scheduleTable(p: Process<unknown, unknown>): Record<string, unknown> | null {
  const s = p.schedule;
  if (!s) return null;
  const n = p.time.kind === "discrete" ? p.time.steps : SCHEDULE_POINTS;
  const t = Array.from({ length: n + 1 }, (_, i) => i / n);
  const g = s as Partial<NoiseSchedule>;
  return {
    name: s.name,
    t,
    m: t.map((x) => s.m(x)),
    ...(typeof g.a === "function" && typeof g.b === "function" ? { a: t.map((x) => g.a!(x)), b: t.map((x) => g.b!(x)) } : {}),
  };
}

/** Indented JSON with arrays of numbers and short strings on one line (the schedule tables). */
function prettyJson(x: unknown): string {
  return JSON.stringify(x, null, 2).replace(/\[[^\[\]{}]*\]/g, (a) => (/^\[[\s\d.eE+\-",a-z]*\]$/.test(a) ? a.replace(/\s+/g, " ").replace(/\[ /, "[").replace(/ \]/, "]") : a)) + "\n";
}
