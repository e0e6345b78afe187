/** Shared by the text benches: command-line flags, and `udm` commands run in-process. */
import { main } from "../src/cli/main.js";

/** The value after --name on the command line, or the fallback. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** Run a udm command in-process; returns what it printed (echoed too when `echo`). Throws unless it exits 0. */
export async function udm(args: string[], echo = false): Promise<string[]> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => {
    lines.push(a.join(" "));
    if (echo) log(...a);
  };
  try {
    const code = await main(args);
    if (code !== 0) throw new Error(`udm ${args.join(" ")} exited with ${code}:\n${lines.join("\n")}`);
  } finally {
    console.log = log;
  }
  return lines;
}
