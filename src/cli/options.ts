import { existsSync, readFileSync } from "node:fs";
import { z } from "zod";

/**
 * Option handling shared by the commands: values come from flags or from a
 * `--config file.json` (flags win), are checked by zod schemas, and every
 * problem becomes ONE line that names the flag (or the config field) and
 * the allowed values. Nothing is written before all options are valid.
 */

/** A user mistake: printed as one line, exit status 2, no stack trace. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Where each option value came from, to name it in errors ("checkpoint": a resumed run's own options). */
export type Sources = Record<string, "flag" | "config" | "checkpoint">;

export interface RawOptions {
  values: Record<string, unknown>;
  sources: Sources;
  configFile?: string;
  /** The config.json of the checkpoint whose options a resumed run took. */
  checkpointFile?: string;
}

// ---- field schemas: each carries the sentence used in its error ----

/** Strings from the command line become numbers only if they are entirely numeric. */
function toNumber(v: unknown): unknown {
  if (typeof v !== "string") return v;
  const s = v.trim();
  return s !== "" && Number.isFinite(Number(s)) ? Number(s) : v;
}

function toBoolean(v: unknown): unknown {
  if (v === "true") return true;
  if (v === "false") return false;
  return v;
}

export function number(want: string, ok: (v: number) => boolean) {
  return z.preprocess(toNumber, z.number({ error: `must be ${want}` }).refine(ok, { error: `must be ${want}` }));
}

export function int(min: number, max = Infinity) {
  const want = max === Infinity ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
  return number(want, (v) => Number.isInteger(v) && v >= min && v <= max);
}

/** A real number in [lo, hi] (open ends with the flags). */
export function real(lo: number, hi: number, open: { lo?: boolean; hi?: boolean } = {}) {
  const want = `a number in ${open.lo ? "(" : "["}${lo}, ${hi}${open.hi ? ")" : "]"}`;
  return number(want, (v) => (open.lo ? v > lo : v >= lo) && (open.hi ? v < hi : v <= hi));
}

export function positive() {
  return number("a positive number", (v) => v > 0 && Number.isFinite(v));
}

export function choice<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: `must be one of ${values.join(", ")}` });
}

export function bool() {
  return z.preprocess(toBoolean, z.boolean({ error: "must be true or false" }));
}

export function text(want = "a non-empty string") {
  return z.string({ error: `must be ${want}` }).min(1, { error: `must be ${want}` });
}

// ---- reading and checking ----

/** camelCase option key -> the flag a user types. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** How to name an option in an error: the flag, or the field of the config file it came from. */
export function fieldName(key: string, raw: RawOptions): string {
  const source = raw.sources[key];
  if (source === "config") return `"${key}" in ${raw.configFile}`;
  if (source === "checkpoint") return `"${key}" of the checkpoint ${raw.checkpointFile}`;
  return flagName(key);
}

/**
 * Merge flags over a JSON config file. `flags` holds only the options the
 * user typed (commander is given no defaults, so absent means not typed).
 */
export function readOptions(flags: Record<string, unknown>, configFile?: string): RawOptions {
  const values: Record<string, unknown> = {};
  const sources: Sources = {};
  if (configFile !== undefined) {
    if (!existsSync(configFile)) throw new UsageError(`--config: file ${configFile} does not exist`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(configFile, "utf8"));
    } catch (e) {
      throw new UsageError(`--config: ${configFile} is not valid JSON (${(e as Error).message.split("\n")[0]})`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new UsageError(`--config: ${configFile} must hold a JSON object of options, e.g. {"steps": 2000}`);
    }
    for (const [k, v] of Object.entries(parsed)) {
      values[k] = v;
      sources[k] = "config";
    }
  }
  for (const [k, v] of Object.entries(flags)) {
    if (k === "config" || v === undefined) continue;
    values[k] = v;
    sources[k] = "flag";
  }
  return { values, sources, configFile };
}

/**
 * Check the options named in `schema`'s shape (defaults filled in). The
 * first problem is thrown as a UsageError naming the field and the value.
 */
export function check<S extends z.ZodObject>(schema: S, raw: RawOptions): z.output<S> {
  const keys = Object.keys(schema.shape);
  const picked: Record<string, unknown> = {};
  for (const k of keys) if (k in raw.values) picked[k] = raw.values[k];
  const result = schema.safeParse(picked);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const key = String(issue.path[0] ?? "");
  if (key && !(key in picked)) throw new UsageError(`${fieldName(key, raw)} is required (${issue.message.replace(/^must be /, "")})`);
  throw new UsageError(`${key ? fieldName(key, raw) : "options"} ${issue.message}, got ${JSON.stringify(picked[key])}`);
}

/**
 * Refuse options that none of the schemas in use accepts (a typo in the
 * config file, or a flag of another process), naming what is accepted.
 */
export function rejectUnknown(raw: RawOptions, allowed: Iterable<string>, context: string): void {
  const ok = new Set(allowed);
  for (const k of Object.keys(raw.values)) {
    if (ok.has(k)) continue;
    const list = [...ok].sort().map((a) => (raw.sources[k] === "config" ? a : flagName(a))).join(", ");
    throw new UsageError(`${fieldName(k, raw)} is not an option of ${context} (allowed: ${list})`);
  }
}
