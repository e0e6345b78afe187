import { join } from "node:path";
import { Command } from "commander";
import { z } from "zod";
import { Rng } from "../core/rng.js";
import { sliceBatch } from "../core/tensor.js";
import { forwardStrip } from "../images/forward-strip.js";
import { textStrip } from "../text/forward-strip.js";
import { writeFileAtomic } from "../viz/files.js";
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
 * `udm show`: the forward process x_t = F_t(x0, eps) for t = 0 .. 1 on a
 * few training rows: images as a picture (columns are times), text as text
 * (one line per time, printed and written to OUT/forward.txt).
 */
export function showCommand(): Command {
  const cmd = new Command("show")
    .description("show the forward process on a few examples: images as OUT/forward.png (columns t from 0 to 1), text as lines of x_t (printed, and OUT/forward.txt)")
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
    const x0 = sliceBatch(s.data.train, 0, Math.min(o.count, s.data.train.shape[0]));
    const times = Array.from({ length: o.columns }, (_, i) => i / (o.columns - 1));
    prepareOutFolder(o.out, { create: false });
    if (s.data.kind === "tokens" && s.data.decode) {
      const lines = textStrip(s.setup.process, x0, new Rng(spec.seed), { times, decode: s.data.decode, pad: s.data.pad });
      const file = join(o.out, "forward.txt");
      console.log(`${spec.process.name} on ${s.data.name}: x_t = F_t(x0, eps), one eps per example\n`);
      console.log(lines.join("\n"));
      writeFileAtomic(file, lines.join("\n") + "\n");
      console.log(`forward process: ${file}`);
      return;
    }
    if (s.data.kind !== "image") throw new UsageError(`udm show draws image or text data; --data ${spec.data} is ${s.data.kind} data`);
    const png = join(o.out, "forward.png");
    forwardStrip(s.setup.process, x0, new Rng(spec.seed), { times, title: `${spec.process.name} on ${s.data.name}: x_t = F_t(x0, eps)` }).save(png);
    console.log(`forward process: ${png}`);
  });
}
