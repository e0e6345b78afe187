import { join } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import { Rng } from "../core/rng.js";
import { sliceBatch } from "../core/tensor.js";
import { forwardStrip } from "../images/forward-strip.js";
import { addFlags, parseRunSpec, runFlags } from "./common.js";
import { check, int, readOptions, text, UsageError } from "./options.js";
import { buildSetup } from "./pipeline.js";
import { prepareOutFolder } from "./run-folder.js";

const schema = z.object({
  out: text().default("udm-out/show"),
  count: int(1, 64).default(6),
  columns: int(2, 41).default(11),
});

/**
 * `udm show`: the forward process as a picture, x_t = F_t(x0, eps) for
 * t = 0 .. 1 (columns) on a few training images (rows). Image data only.
 */
export function showCommand(): Command {
  const cmd = new Command("show")
    .description("draw the forward process on a few images (OUT/forward.png): rows are images, columns t from 0 to 1")
    .option("--config <file>", "JSON file of options (keys as the flags in camelCase; flags win)")
    .option("--out <dir>", "output folder (default udm-out/show)")
    .option("-n, --count <n>", "images (rows) to show (default 6)")
    .option("--columns <n>", "times (columns) from 0 to 1 (default 11)");
  addFlags(cmd, runFlags());
  return cmd.action(async (flags: Record<string, unknown>) => {
    const raw = readOptions(flags, flags.config as string | undefined);
    const spec = parseRunSpec(raw, Object.keys(schema.shape), "show");
    const o = check(schema, raw);
    const s = await buildSetup({ ...spec, n: Math.min(spec.n, 1000), heldOut: Math.min(spec.heldOut, 10) });
    if (s.data.kind !== "image") throw new UsageError(`udm show draws image data; --data ${spec.data} is ${s.data.kind} data`);
    const x0 = sliceBatch(s.data.train, 0, Math.min(o.count, s.data.train.shape[0]));
    const times = Array.from({ length: o.columns }, (_, i) => i / (o.columns - 1));
    prepareOutFolder(o.out, { create: false });
    const png = join(o.out, "forward.png");
    forwardStrip(s.setup.process, x0, new Rng(spec.seed), { times, title: `${spec.process.name} on ${s.data.name}: x_t = F_t(x0, eps)` }).save(png);
    console.log(`forward process: ${png}`);
  });
}
