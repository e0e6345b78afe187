import { Command } from "commander";
import { addFlags, parseRunSpec, runFlags, sessionKeys, toTrainRun, trainFlags, trainSchema } from "./common.js";
import { check, readOptions, UsageError } from "./options.js";
import { buildSetup, dataHash, initJax, readModelCheckpoint, trainSetup, useEngine, type Setup } from "./pipeline.js";
import { checkShapes } from "../train/checkpoint.js";
import { resumeRun } from "./resume.js";
import { checkOutFolder, lockRunFolder, prepareOutFolder } from "./run-folder.js";

/** `udm train`: fit a network to a data set under a process; writes a checkpoint and loss.png. */
export function trainCommand(): Command {
  const cmd = new Command("train")
    .description("train a denoiser; writes OUT/checkpoint/ and OUT/loss.png (--resume continues it)")
    .option("--config <file>", "JSON file of options (keys as the flags in camelCase; flags win)")
    .option("--out <dir>", "output folder (default udm-out/train)");
  addFlags(cmd, [...runFlags(), ...trainFlags]);
  return cmd.action(async (flags: Record<string, unknown>) => {
    const raw = readOptions(flags, flags.config as string | undefined);
    const schema = trainSchema({ out: "udm-out/train", steps: 3000 });
    const first = check(schema.pick({ out: true, resume: true, force: true }), raw);
    // --resume: everything but the session flags comes from the checkpoint.
    if (first.resume) checkOutFolder(first, "train");
    const resumed = first.resume ? resumeRun(raw, schema, sessionKeys(trainFlags)) : undefined;
    const spec = resumed?.spec ?? parseRunSpec(raw, Object.keys(schema.shape), "train");
    const run = resumed?.run ?? toTrainRun(check(schema, raw));
    checkOutFolder(run, "train");
    useEngine(run.engine, undefined, run.threads);
    // Bad data is refused before --out is touched; --out is checked before any training time is spent.
    const s = await buildSetup(spec);
    prepareOutFolder(run.out);
    const lock = lockRunFolder(run.out, "train");
    try {
      if (resumed) await checkResumable(run.out, s);
      if (resumed && dataHash(s.data) !== resumed.saved.data.sha256) {
        throw new UsageError(
          `--resume: the data ${s.data.name} changed since the checkpoint in ${run.out} was written (content hash ${dataHash(s.data).slice(0, 12)}..., the checkpoint's ${resumed.saved.data.sha256.slice(0, 12)}...); resume needs the data it was trained on`,
        );
      }
      const res = await trainSetup(s, run);
      const tail = res.losses.slice(-100);
      const avg = tail.reduce((a, b) => a + b, 0) / Math.max(tail.length, 1);
      const from = resumed ? ` (resumed at step ${resumed.step})` : "";
      console.log(`trained ${spec.process.name} / ${spec.network.name} on ${s.data.name}: step ${res.step} of ${run.steps}${from} in ${res.seconds.toFixed(1)} s, mean loss of the last ${tail.length} steps ${avg.toPrecision(4)}`);
      console.log(`checkpoint: ${res.checkpoint}`);
      console.log(`loss curve: ${res.lossPng}`);
    } finally {
      lock.release();
    }
  });
}

/** The checkpoint to continue must load (finite weights) and fit the rebuilt network, tensor by tensor. */
async function checkResumable(out: string, s: Setup): Promise<void> {
  const ck = readModelCheckpoint(out, "--resume");
  await initJax();
  try {
    checkShapes(ck, s.network);
  } catch (e) {
    throw new UsageError(`--resume: ${(e as Error).message.replace(/^checkpoint: /, "")}`);
  }
}
