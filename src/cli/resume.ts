import { readCheckpointConfig } from "../train/checkpoint.js";
import { parseRunSpec, toTrainRun, type trainSchema } from "./common.js";
import { check, fieldName, flagName, UsageError, type RawOptions } from "./options.js";
import { flatOptions, savedRunOf, type RunSpec, type SavedRun, type TrainRun } from "./pipeline.js";

/**
 * `udm train --resume`: the run is rebuilt from the checkpoint in --out
 * (data set, process, schedule, objective, network, training options), not
 * from the command line's defaults. Flags may repeat the checkpoint's values
 * or change `session` options (--steps to train longer, --quiet...); any
 * other differing flag is refused, naming it and both values.
 */
export function resumeRun(
  raw: RawOptions,
  schema: ReturnType<typeof trainSchema>,
  session: ReadonlySet<string>,
): { spec: RunSpec; run: TrainRun; saved: SavedRun; step: number } {
  const out = check(schema.pick({ out: true }), raw).out;
  const { dir, config } = readCheckpointConfig(out);
  const cfgFile = `${dir}/config.json`;
  const { saved } = savedRunOf(config, `--resume: the checkpoint in ${out}`);
  if (!saved) throw new UsageError(`--resume: the checkpoint in ${out} was written by an older udm that did not save its options; start a new run (--force replaces it)`);

  // The checkpoint's options, with what the user typed on top.
  const merged: RawOptions = { values: { ...saved.options }, sources: {}, configFile: raw.configFile, checkpointFile: cfgFile };
  for (const k of Object.keys(saved.options)) merged.sources[k] = "checkpoint";
  for (const [k, v] of Object.entries(raw.values)) {
    merged.values[k] = v;
    merged.sources[k] = raw.sources[k];
  }
  const spec = parseRunSpec(merged, Object.keys(schema.shape), "train");
  const run = toTrainRun(check(schema, merged));
  const now = flatOptions(spec, run);
  for (const key of Object.keys(raw.values)) {
    if (session.has(key) || !(key in now)) continue;
    const was = saved.options[key], is = now[key];
    if (JSON.stringify(was) !== JSON.stringify(is)) {
      throw new UsageError(
        `${fieldName(key, raw)} ${show(is)} conflicts with the checkpoint in ${out}, trained with ${flagName(key)} ${show(was)}: ` +
          `--resume continues that run as it was; drop ${fieldName(key, raw)}, or start a new run in another --out (--force replaces this one)`,
      );
    }
  }
  if (run.steps < config.step) throw new UsageError(`--steps ${run.steps} is below the checkpoint's step ${config.step}; give a larger --steps to continue`);
  return { spec, run, saved, step: config.step };
}

function show(v: unknown): string {
  return v === undefined ? "(unset)" : typeof v === "string" ? v : JSON.stringify(v);
}
