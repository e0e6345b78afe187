import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Run `body` with the udm CLI's output captured: what it prints (`logs`)
 * and its one-line usage errors, which go to stderr (`errors`), in a
 * fresh temporary folder that is removed afterwards.
 */
export async function withCli(prefix: string, body: (cli: { dir: string; logs: string[]; errors: string[]; main: (args: string[]) => Promise<number> }) => Promise<void>): Promise<void> {
  const { main } = await import("../../src/cli/main.js");
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const logs: string[] = [];
  const errors: string[] = [];
  const stderr = process.stderr;
  const [log, write] = [console.log, stderr.write];
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  stderr.write = ((chunk: string | Uint8Array) => errors.push(String(chunk)) > 0) as typeof stderr.write;
  try {
    await body({ dir, logs, errors, main });
  } finally {
    console.log = log;
    stderr.write = write;
    rmSync(dir, { recursive: true, force: true });
  }
}
