import { join } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import { sliceBatch } from "../core/tensor.js";
import { writeFileAtomic } from "../viz/files.js";
import { writeReport, type ReportSection } from "../viz/report.js";
import { addFlags, parseRunSpec, runFlags, toTrainRun, trainFlags, trainSchema } from "./common.js";
import { check, choice, int, readOptions } from "./options.js";
import { findData } from "./registry.js";
import { buildSetup, disposeModel, drawSamples, loadModel, samplingSteps, scoreSamples, trainSetup, engineNotice, useEngine, type SampleRequest, type Setup, type TrainRun } from "./pipeline.js";
import { checkOutFolder, lockRunFolder, prepareOutFolder } from "./run-folder.js";
import type { NllResult } from "./registry.js";
import { writeSamples } from "./sample.js";

/** Training length of the demo: measured to finish in well under 2 minutes on 2 cores (README). */
const DEMO_STEPS = 2500;

/**
 * Image data (`--data mnist`): a training time budget instead of a step
 * count, a smaller batch, a grid of 64 samples with DDIM and DDPM (50
 * steps), no likelihood; measured to draw recognisable digits in under 10
 * minutes on 2 cores (README). Flags given by the user win.
 */
const IMAGE_DEMO = { maxSeconds: 480, batchSize: 64, count: 64, sampleSteps: 50, presets: ["ddim", "ddpm"] };
/** Text: 64 chunks are plenty to read and to count real words (2,000 would take minutes to sample). */
const TEXT_DEMO = { count: 64 };

/** The demo's sampling options; training options are train's (trainFlags), with the demo's defaults. */
const demoSchema = z.object({
  // Default: the process's (samplingSteps: 100, the chunk length for ar, a multiple of the blocks for block).
  sampleSteps: int(1, 100_000).optional(),
  grid: choice(["uniform", "quadratic"]).default("uniform"),
  count: int(1, 100_000).default(2000),
});
const demoTrainSchema = trainSchema({ out: "udm-out/demo", steps: DEMO_STEPS });
// The demo replaces its own previous run; --force lets it replace a checkpoint of udm train too.
const demoTrainFlags = trainFlags
  .filter((f) => f.key !== "resume")
  .map((f) => (f.key === "force" ? { ...f, description: "replace a checkpoint of udm train in --out (the demo replaces its own runs without it)" } : f));

/**
 * `udm demo`: train the default model (moons, Gaussian process, MLP), sample
 * it with every preset of the process (ddpm, ddim, analytic-dpm), score the
 * samples against held-out data and write pictures plus an HTML report.
 */
export function demoCommand(): Command {
  const cmd = new Command("demo")
    .description("train + sample the default 2-D model; writes pictures and report.html to udm-out/demo/")
    .option("--config <file>", "JSON file of options (keys as the flags in camelCase; flags win)")
    .option("--out <dir>", "output folder (default udm-out/demo); a previous demo there is replaced, a udm train checkpoint only with --force")
    .option("--sample-steps <n>", "sampling steps (default 100; ar: the chunk length; block: a multiple of its blocks)")
    .option("--grid <kind>", "sampling time grid: uniform or quadratic (default uniform)")
    .option("-n, --count <n>", "samples per preset (default 2000)");
  addFlags(cmd, [...runFlags(), ...demoTrainFlags.map((f) => (f.key === "steps" ? { ...f, description: `optimizer steps (default ${DEMO_STEPS})` } : f))]);
  return cmd.action(async (flags: Record<string, unknown>) => {
    const t0 = performance.now();
    const raw = readOptions(flags, flags.config as string | undefined);
    const spec = parseRunSpec(raw, [...Object.keys(demoSchema.shape), "out", ...demoTrainFlags.map((f) => f.key)], "demo");
    const kind = findData(spec.data).entry.kind;
    const images = kind === "image";
    const given = (key: string) => raw.sources[key] !== undefined;
    const o = check(demoSchema, raw);
    const run = { ...toTrainRun(check(demoTrainSchema, raw)), resume: false };
    if (images) {
      if (!given("steps") && !given("maxSeconds")) Object.assign(run, { steps: 10_000_000, maxSeconds: IMAGE_DEMO.maxSeconds });
      if (!given("batchSize")) run.batchSize = IMAGE_DEMO.batchSize;
      if (!given("count")) o.count = IMAGE_DEMO.count;
      if (!given("sampleSteps")) o.sampleSteps = IMAGE_DEMO.sampleSteps;
    }
    if (kind === "tokens" && !given("count")) o.count = TEXT_DEMO.count;
    checkOutFolder(run, "demo");
    // The first line names the engine.
    useEngine(run.engine, () => undefined, run.threads);
    console.log(`udm demo: ${await engineNotice(run.engine)}`);
    const s = await buildSetup(spec);
    prepareOutFolder(run.out);
    const lock = lockRunFolder(run.out, "demo");
    try {
      await demo(s, run, o, t0);
    } finally {
      lock.release();
    }
  });
}

/** Train, sample with every preset, score, and write the pictures, metrics.json and report.html. */
async function demo(s: Setup, run: TrainRun, o: z.output<typeof demoSchema>, t0: number): Promise<void> {
  const { spec } = s;
  const say = (line: string) => console.log(line);
  say(`udm demo: ${spec.process.name} on ${s.data.name} (${s.data.train.shape[0]} training rows), ${s.network.name} ${JSON.stringify(spec.network.options)}, ${budget(run)}`);
  const trained = await trainSetup(s, run, { label: "demo", command: "demo" });
  say(`trained ${trained.step} steps in ${trained.seconds.toFixed(1)} s (${(trained.step / trained.seconds).toFixed(0)} steps/s)`);

  // Sample from the checkpoint on disk, as `udm sample` would.
  const model = await loadModel(run.out);
  const rows: Record<string, string | number>[] = [];
  let nll: NllResult | undefined;
  const sections: ReportSection[] = [{ heading: "Training loss", images: [{ svg: trained.lossChart.svg, caption: `${trained.step} steps, batch ${run.batchSize}, lr ${run.lr}` }] }];
  try {
    const steps = samplingSteps(model, { steps: o.sampleSteps });
    const images = model.data.kind === "image";
    const presets = model.setup.presets?.filter((p) => !images || IMAGE_DEMO.presets.includes(p));
    const requests: SampleRequest[] = (presets?.length ? presets.map((p) => ({ preset: p })) : [{ r: 0 }, { r: 1 }]).map(
      (p) => ({ ...p, steps, grid: o.grid, n: o.count, seed: 1, trajectory: true }),
    );
    for (const req of requests) {
      const res = await drawSamples(model, req);
      const score = scoreSamples(res.samples, model.data);
      const extra: Record<string, number> = (await model.data.metrics?.(res.samples)) ?? {};
      const tag = (req.preset ?? `r${req.r}`).replace(/[^a-z0-9.-]+/gi, "-");
      const dir = join(run.out, `samples-${tag}`);
      const files = writeSamples(model.data, res.samples, dir, "auto");
      const pictures = [];
      if (model.data.picture) {
        const png = join(run.out, `samples-${tag}.png`);
        const picture = model.data.picture(res.samples, `${res.label}, ${steps} steps`);
        picture.save(png);
        const caption = model.data.kind === "points" ? `held-out data (blue) vs ${res.samples.shape[0]} samples (orange), ${res.label}` : `${res.samples.shape[0]} samples, ${res.label}`;
        pictures.push({ svg: picture.svg, path: png, caption });
      }
      if (res.snapshots && model.data.trajectory) {
        const png = join(run.out, `trajectory-${tag}.png`);
        const picture = model.data.trajectory(res.snapshots);
        picture.save(png);
        pictures.push({ svg: picture.svg, path: png, caption: `x_t along the ${res.label} run, from t = 1 to t = 0` });
      }
      sections.push({ heading: `Sampler: ${res.label}`, images: pictures });
      const scores: Record<string, number> = score ? { "energy distance": score.energy, "floor (train vs held-out)": score.floor } : {};
      rows.push({ sampler: res.label, steps, grid: o.grid, samples: res.samples.shape[0], ...scores, ...extra, "sampling s": res.seconds });
      const scored = score
        ? `energy distance to held-out ${score.energy.toFixed(4)} (floor ${score.floor.toFixed(4)})`
        : Object.entries(extra).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ");
      say(`${res.label.padEnd(18)} ${scored}, ${res.seconds.toFixed(1)} s -> ${files.join(", ")}`);
    }
    // The likelihood of images (an ODE per image) would take longer than the demo itself.
    if (model.setup.nll && !images) {
      const rows = sliceBatch(model.data.heldOut, 0, Math.min(200, model.data.heldOut.shape[0]));
      nll = await model.setup.nll(model.denoiser, rows, 0);
      say(`held-out NLL ${nll.nll.toFixed(3)} +- ${nll.nllStderr.toFixed(3)} nats per row, ${nll.bitsPerDim.toFixed(3)} bits/dim (${rows.shape[0]} rows; ${nll.method})`);
    }
  } finally {
    disposeModel(model);
  }
  const seconds = (performance.now() - t0) / 1000;
  const metrics = { data: s.data.name, process: spec.process, network: spec.network, trainSteps: trained.step, trainSeconds: trained.seconds, totalSeconds: seconds, samplers: rows, heldOutNll: nll ?? null };
  writeFileAtomic(join(run.out, "metrics.json"), JSON.stringify(metrics, null, 2) + "\n");
  writeReport(join(run.out, "report.html"), {
    title: `udm demo: ${spec.process.name} diffusion on ${s.data.name}`,
    note: `${s.data.train.shape[0]} training rows, ${s.network.name} ${JSON.stringify(spec.network.options)}, ${trained.step} steps in ${trained.seconds.toFixed(1)} s; total ${seconds.toFixed(1)} s. ` +
      (s.data.kind === "tokens"
        ? "wordShare: the share of generated words found in the training text's word list; wordShareHeldOut: the same for held-out text (the ceiling)."
        : "Energy distance: lower is better; the floor is what a perfect model reaches at this sample size.") +
      (nll ? ` Held-out NLL: ${nll.nll.toFixed(3)} +- ${nll.nllStderr.toFixed(3)} nats per row, ${nll.bitsPerDim.toFixed(3)} bits/dim (${nll.method}).` : ""),
    metrics: rows,
    sections,
  });
  say(`wrote ${join(run.out, "report.html")} and metrics.json (total ${seconds.toFixed(1)} s)`);
}

/** "2500 steps", or "up to 480 s of training" when the time budget is what ends it (image data). */
function budget(run: TrainRun): string {
  return run.maxSeconds !== undefined && run.steps >= 1_000_000 ? `up to ${run.maxSeconds} s of training` : `${run.steps} steps`;
}
