import { pathToFileURL } from "node:url";
import { Command, CommanderError } from "commander";
import "./entries/index.js";
import { demoCommand } from "./demo.js";
import { evalCommand } from "./eval.js";
import { playCommand } from "./play.js";
import { exportCommand } from "./export.js";
import { UsageError } from "./options.js";
import { sampleCommand } from "./sample.js";
import { showCommand } from "./show.js";
import { trainCommand } from "./train.js";

/** The `udm` program: one sub-command per file. */
export function program(): Command {
  return new Command("udm")
    .description("Unified Diffusion Models: train, sample and evaluate any destruction process with one sampler")
    .showSuggestionAfterError(true)
    .addCommand(trainCommand())
    .addCommand(sampleCommand())
    .addCommand(evalCommand())
    .addCommand(exportCommand())
    .addCommand(demoCommand())
    .addCommand(showCommand())
    .addCommand(playCommand());
}

/**
 * Run the CLI; returns the exit status. Every error is ONE line on stderr:
 * 2 for a usage mistake (bad flag or value), 1 for a failure while running.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const prog = program();
  // Commander's own errors (unknown option...) also become one line, in our format.
  const output = {
    outputError: (str: string, write: (s: string) => void) => write(`udm: ${str.trim().split("\n").map((l) => l.trim()).join(" ")}\n`),
  };
  for (const c of [prog, ...prog.commands]) c.exitOverride().configureOutput(output);
  try {
    await prog.parseAsync([...argv], { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help and version exit with 0; commander has already printed its one-line error otherwise.
      return e.exitCode === 0 ? 0 : 2;
    }
    const err = e as Error;
    const line = (err.message ?? String(e)).split("\n").map((s) => s.trim()).filter(Boolean).join(" ");
    process.stderr.write(`udm: error: ${line}\n`);
    if (process.env.UDM_DEBUG) process.stderr.write(`${err.stack}\n`);
    return e instanceof UsageError ? 2 : 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  process.exitCode = await main(process.argv.slice(2));
}
