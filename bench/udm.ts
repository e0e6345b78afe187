/** Shared by the text benches: command-line flags, and `udm` commands run in-process. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { main } from "../src/cli/main.js";
import { disposeModel, loadModel } from "../src/cli/pipeline.js";
import type { TextDataSet } from "../src/cli/entries/text.js";

/** The value after --name on the command line, or the fallback. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/** Whether --name is on the command line. */
export const has = (name: string): boolean => process.argv.includes(`--${name}`);

/** The value after --name, or undefined when the flag is absent (the CLI's default then applies). */
export const given = (name: string): string | undefined => (has(name) ? arg(name, "") : undefined);

/** { batchSize: "64" } -> ["--batch-size", "64"]; undefined values are left out. */
export const asFlags = (o: Record<string, string | undefined>): string[] =>
  Object.entries(o).flatMap(([k, v]) => (v === undefined ? [] : [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`, v]));

/**
 * The main of a settings bench (bench/images.ts, bench/text.ts): --report prints
 * the table, else --setting NAME runs (a PyTorch twin for "torch..." settings) and
 * writes ROOT/NAME/result.json.
 */
export async function settingsMain<R>(bench: string, root: string, settings: Record<string, unknown>, run: { report(): void; torch(dir: string, setting: string): Promise<R>; cli(setting: string, dir: string): Promise<R> }): Promise<void> {
  if (has("report")) return run.report();
  const setting = arg("setting", "");
  if (!(setting in settings)) {
    console.error(`bench/${bench}: --setting must be one of ${Object.keys(settings).join(", ")}, got ${JSON.stringify(setting)}`);
    process.exit(2);
  }
  const dir = join(root, setting);
  mkdirSync(dir, { recursive: true });
  const result = setting.startsWith("torch") ? await run.torch(dir, setting) : await run.cli(setting, dir);
  writeFileSync(join(dir, "result.json"), JSON.stringify(result, null, 2) + "\n");
  console.log(`# wrote ${join(dir, "result.json")}`);
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

/** The short text benches' fixed `udm train` flags: Emma, its last 10% held out, batch 32. */
export const emmaTrainFlags = ["--data", "text:austen-emma", "--held-out", "100000", "--batch-size", "32"];

/** A text run's held-out bound (`udm eval --nll` on every held-out chunk, seed 1) from its EMA weights, with its step and seconds. */
export async function heldOutBound(dir: string): Promise<{ step: number; seconds: number; bitsPerChar: number; stderr: number }> {
  const m = await loadModel(dir);
  try {
    const nll = await m.setup.nll!(m.denoiser, (m.data as TextDataSet).heldOut, 1);
    const c = m.config as { step: number; seconds?: number };
    return { step: c.step, seconds: +(c.seconds ?? 0).toFixed(1), bitsPerChar: +nll.bitsPerDim.toFixed(4), stderr: +nll.bitsPerDimStderr.toFixed(4) };
  } finally {
    disposeModel(m);
  }
}
