import { Command } from "commander";
import { addFlags, checkPreset, sampleFlags, sampleSchema, toSampleRequest } from "./common.js";
import { sliceBatch } from "../core/tensor.js";
import { UsageError, bool, check, int, readOptions, rejectUnknown, text } from "./options.js";
import { disposeModel, drawSamples, loadModel, samplingSteps, scoreSamples, useEngine } from "./pipeline.js";

const schema = sampleSchema.extend({
  checkpoint: text("a checkpoint folder"),
  json: bool().default(false),
  nll: bool().default(false),
  nllRows: int(1, 1_000_000).default(500),
});

/**
 * `udm eval`: sample, then the energy distance of the samples to held-out
 * data, beside the floor a perfect model would reach at this sample size
 * (training rows vs held-out rows); with --nll also the held-out
 * negative log-likelihood (Gaussian: through the probability-flow ODE).
 */
export function evalCommand(): Command {
  const cmd = new Command("eval")
    .description("energy distance of samples to held-out data (printed, or JSON with --json)")
    .option("--config <file>", "JSON file of options (keys as the flags in camelCase; flags win)")
    .option("--checkpoint <dir>", "checkpoint folder, or the run folder holding it (required)")
    .option("--json", "print one JSON object instead of text")
    .option("--nll", "also the negative log-likelihood of held-out rows (nats and bits/dim), where the process has one")
    .option("--nll-rows <n>", "held-out rows for --nll (default 500)");
  addFlags(cmd, sampleFlags);
  return cmd.action(async (flags: Record<string, unknown>) => {
    const raw = readOptions(flags, flags.config as string | undefined);
    rejectUnknown(raw, [...Object.keys(schema.shape), "config"], "udm eval");
    const o = check(schema, raw);
    useEngine(o.engine, undefined, o.threads);
    const model = await loadModel(o.checkpoint, o.ema);
    try {
      checkPreset(o.preset, model.setup.presets, model.spec.process.name);
      if (o.nll && !model.setup.nll) throw new UsageError(`--nll: process ${model.spec.process.name} has no likelihood`);
      const res = await drawSamples(model, toSampleRequest(o));
      const steps = samplingSteps(model, o);
      const score = scoreSamples(res.samples, model.data);
      const extra = (await model.data.metrics?.(res.samples)) ?? {};
      const report = {
        checkpoint: model.dir,
        data: model.data.name,
        process: model.spec.process.name,
        step: model.config.step,
        sampler: res.label,
        steps,
        grid: o.grid,
        samples: res.samples.shape[0],
        energyDistance: score?.energy ?? null,
        energyDistanceFloor: score?.floor ?? null,
        ...extra,
        sampleSeconds: res.seconds,
      };
      if (!o.json) {
        console.log(`${model.data.name}, ${model.spec.process.name}, step ${model.config.step}: ${res.label}, ${steps} ${o.grid} steps`);
        if (score) console.log(`energy distance to held-out data: ${score.energy.toPrecision(4)} (n = ${score.n}; training rows vs held-out: ${score.floor.toPrecision(4)})`);
        // A metric's floor and ceiling (keys <name>Floor, <name>Ceiling) are printed beside it.
        for (const [k, v] of Object.entries(extra)) {
          if (/(Floor|Ceiling)$/.test(k)) continue;
          const [lo, hi] = [extra[`${k}Floor`], extra[`${k}Ceiling`]];
          console.log(`${k}: ${v.toPrecision(4)}${lo !== undefined && hi !== undefined ? ` (floor ${lo.toPrecision(4)}: training images; ceiling ${hi.toPrecision(4)}: noise)` : ""}`);
        }
      }
      if (o.nll) {
        const rows = sliceBatch(model.data.heldOut, 0, Math.min(o.nllRows, model.data.heldOut.shape[0]));
        const t0 = performance.now();
        const nll = await model.setup.nll!(model.denoiser, rows, o.sampleSeed);
        Object.assign(report, {
          nll: nll.nll,
          nllStderr: nll.nllStderr,
          bitsPerDim: nll.bitsPerDim,
          bitsPerDimStderr: nll.bitsPerDimStderr,
          nllRows: rows.shape[0],
          nllMethod: nll.method,
          nllSeconds: (performance.now() - t0) / 1000,
        });
        if (!o.json) console.log(`held-out NLL: ${nll.nll.toFixed(4)} +- ${nll.nllStderr.toFixed(4)} nats = ${nll.bitsPerDim.toFixed(4)} +- ${nll.bitsPerDimStderr.toFixed(4)} bits/dim (${rows.shape[0]} rows; ${nll.method})`);
      }
      if (o.json) console.log(JSON.stringify(report));
    } finally {
      disposeModel(model);
    }
  });
}
