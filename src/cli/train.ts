import { Command } from "commander";
import { addFlags, parseRunSpec, runFlags, toTrainRun, trainFlags, trainSchema } from "./common.js";
import { check, readOptions } from "./options.js";
import { buildSetup, checkOutFolder, trainSetup } from "./pipeline.js";

/** `udm train`: fit a network to a data set under a process; writes a checkpoint and loss.png. */
export function trainCommand(): Command {
  const cmd = new Command("train")
    .description("train a denoiser; writes OUT/checkpoint/ and OUT/loss.png")
    .option("--config <file>", "JSON file of options (keys as the flags in camelCase; flags win)")
    .option("--out <dir>", "output folder (default udm-out/train)");
  addFlags(cmd, [...runFlags(), ...trainFlags]);
  return cmd.action(async (flags: Record<string, unknown>) => {
    const raw = readOptions(flags, flags.config as string | undefined);
    const schema = trainSchema({ out: "udm-out/train", steps: 3000 });
    const spec = parseRunSpec(raw, Object.keys(schema.shape), "train");
    const run = toTrainRun(check(schema, raw));
    checkOutFolder(run);
    const s = await buildSetup(spec);
    const res = await trainSetup(s, run);
    const tail = res.losses.slice(-100);
    const avg = tail.reduce((a, b) => a + b, 0) / Math.max(tail.length, 1);
    console.log(`trained ${spec.process.name} / ${spec.network.name} on ${s.data.name}: step ${res.step} of ${run.steps} in ${res.seconds.toFixed(1)} s, mean loss of the last ${tail.length} steps ${avg.toPrecision(4)}`);
    console.log(`checkpoint: ${res.checkpoint}`);
    console.log(`loss curve: ${res.lossPng}`);
  });
}
