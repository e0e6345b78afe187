import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";

/**
 * File-system helpers for everything that writes results: folders created
 * one level at a time (Node's recursive mkdir loops forever under /proc and
 * says ENOENT on a read-only file system), errors that name the path and say
 * what went wrong in words, and clean-up of what killed runs leave behind.
 */

/** An fs error re-thrown with the path and a plain reason ("read-only", "no space left"...). */
export class WriteError extends Error {
  override name = "WriteError";
  constructor(
    message: string,
    readonly path: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

const REASONS: Record<string, string> = {
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EROFS: "the file system is read-only",
  EACCES: "permission denied (read-only for this user)",
  EPERM: "operation not permitted (read-only for this user)",
  ENOTDIR: "a part of the path is not a directory",
  EISDIR: "it is a directory",
  ENOENT: "a parent folder is missing",
};

/** "no space left on the device (ENOSPC)": an fs error's reason in words. */
export function fsReason(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const code = err?.code;
  return `${(code && REASONS[code]) ?? err?.message ?? String(e)}${code ? ` (${code})` : ""}`;
}

/** "cannot write PATH: no space left on the device (ENOSPC)". */
export function describeFsError(e: unknown, path: string, verb = "write"): WriteError {
  if (e instanceof WriteError) return e;
  return new WriteError(`cannot ${verb} ${path}: ${fsReason(e)}`, path, (e as NodeJS.ErrnoException)?.code);
}

/**
 * Create `dir` and any missing parents, one level at a time, so that every
 * failure names the folder that could not be made and why.
 */
export function ensureDir(dir: string): void {
  const abs = resolve(dir);
  const missing: string[] = [];
  let p = abs;
  while (!existsSync(p)) {
    missing.unshift(p);
    const up = dirname(p);
    if (up === p) break;
    p = up;
  }
  if (existsSync(p) && !statSync(p).isDirectory()) throw new WriteError(`cannot create ${abs}: ${p} is not a directory`, p, "ENOTDIR");
  for (const m of missing) {
    try {
      mkdirSync(m);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw describeFsError(e, m, "create the folder");
      if (existsSync(m) && statSync(m).isDirectory()) continue; // made meanwhile
      // It "exists" yet existsSync said no: a link to nowhere.
      throw new WriteError(`cannot create the folder ${m}: it is a link to a missing target`, m, "ENOENT");
    }
  }
}

/** Write a file and flush it to the disk before returning (checkpoints must survive a power cut). */
export function writeFileSynced(file: string, data: string | Uint8Array): void {
  try {
    writeFileSync(file, data);
    const fd = openSync(file, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw describeFsError(e, file);
  }
}

/** Whether a process with this id is running (on this machine). */
export function pidAlive(pid: number): boolean {
  if (!(Number.isInteger(pid) && pid > 0)) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Temporary names carry the writer's pid: `<name>.tmp-<pid>-...` and `<name>.old-<pid>-...`. */
const TEMP = /\.(tmp|old)-(\d+)-/;

/**
 * Delete the temporary files and folders in `dir` that a killed writer left
 * (their pid is no longer running, or is ours from an earlier write that
 * failed). `keep` filters out names that must stay. Returns what was removed.
 */
export function removeStaleTemps(dir: string, keep: (name: string) => boolean = () => false): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const m = TEMP.exec(name);
    if (!m || keep(name)) continue;
    const pid = Number(m[2]);
    if (pid !== process.pid && pidAlive(pid)) continue;
    rmSync(join(dir, name), { recursive: true, force: true });
    removed.push(name);
  }
  return removed;
}
