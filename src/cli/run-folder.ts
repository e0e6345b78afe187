import { accessSync, constants, existsSync, linkSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname, join, resolve } from "node:path";
import { ensureDir, fsReason, pidAlive, removeStaleTemps, WriteError } from "../io/files.js";
import { CHECKPOINT_DIR, checkpointExists, readCheckpointConfig } from "../train/checkpoint.js";
import { UsageError } from "./options.js";

/**
 * The run folder (--out) of `udm train` / `udm demo`: checked for writing
 * before any training time is spent, and locked so that two runs never
 * write the same checkpoint.
 */

/**
 * What may happen to a checkpoint already in --out: `--resume` continues it,
 * `--force` replaces it, and without either it is never touched (`udm demo`
 * replaces only the runs it wrote itself). Checked before anything is written.
 */
export function checkOutFolder(run: { out: string; resume: boolean; force: boolean }, command: "train" | "demo"): void {
  if (run.resume && run.force) {
    throw new UsageError(`--resume and --force contradict each other: --resume continues the checkpoint in --out, --force replaces it; give one of them`);
  }
  const has = checkpointExists(run.out);
  if (run.resume && !has) throw new UsageError(`--resume: ${run.out} holds no checkpoint to continue`);
  if (!has || run.resume || run.force) return;
  let writer = "unknown", step = "?";
  try {
    const { config } = readCheckpointConfig(run.out);
    writer = String((config.metadata?.udm as { command?: string } | undefined)?.command ?? "train");
    step = String(config.step);
  } catch {
    // An unreadable checkpoint is protected all the same.
  }
  if (command === "demo" && writer === "demo") return;
  const what = `--out ${run.out} already holds a checkpoint (written by udm ${writer}, step ${step})`;
  if (command === "demo") throw new UsageError(`${what}; udm demo replaces only its own runs: pass --force to replace it, or choose another --out`);
  throw new UsageError(`${what}; pass --resume to continue it or --force to replace it`);
}

/**
 * Make sure `out` is (or can become) a folder we can write into; every
 * problem is a UsageError that says which folder and why, in words: "is not
 * a directory", "is read-only", "parent folder ... is missing". With
 * `create` (the default) the folder is made, and what killed runs left there
 * (temporary files and folders) is removed; without, nothing is written.
 */
export function prepareOutFolder(out: string, { flag = "--out", create = true } = {}): void {
  const abs = resolve(out);
  // The deepest folder that exists: where the first new folder (or file) is made.
  let base = abs;
  while (!existsSync(base) && dirname(base) !== base) base = dirname(base);
  if (!statSync(base).isDirectory()) {
    throw new UsageError(base === abs ? `${flag} ${out} is not a directory (a file of that name exists)` : `${flag} ${out}: ${base} is not a directory`);
  }
  const ro = readOnly(base);
  if (ro) throw new UsageError(`${flag} ${out}: the folder ${base} is read-only (${ro})`);
  if (!create) return;
  try {
    ensureDir(abs);
  } catch (e) {
    throw new UsageError(`${flag} ${out}: ${folderProblem(e as WriteError)}`);
  }
  const probe = join(abs, `.udm-write-test.tmp-${process.pid}-probe`);
  try {
    writeFileSync(probe, "");
  } catch (e) {
    throw new UsageError(`${flag} ${out}: ${folderProblem(Object.assign(e as Error, { path: probe }) as WriteError)}`);
  } finally {
    rmSync(probe, { force: true });
  }
  // Leftovers of killed runs; a checkpoint's own temporary folders are saveCheckpoint's to judge.
  removeStaleTemps(abs, (name) => name.startsWith(`${CHECKPOINT_DIR}.`));
}

/**
 * Why `dir` is read-only for us, or "" when it is not: the file system or
 * the permissions say so. Folders without any write bit count as read-only
 * even for root, who could write there anyway: the owner said no.
 */
function readOnly(dir: string): string {
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o222) === 0) return `mode ${mode.toString(8)}`;
  try {
    accessSync(dir, constants.W_OK);
    return "";
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? "no write permission";
  }
}

function folderProblem(e: WriteError & { path?: string }): string {
  const where = e.path ?? "?";
  switch (e.code) {
    case "ENOTDIR":
      return `${where} is not a directory`;
    case "EROFS":
    case "EACCES":
    case "EPERM":
      return `the folder ${dirname(where)} is read-only (${e.code})`;
    case "ENOENT":
      return `the parent folder ${where} is missing and cannot be made (${e.message.replace(/^cannot create the folder [^:]*: /, "")})`;
    case "ENOSPC":
      return `no space left on the device for ${where} (ENOSPC)`;
    default:
      return e.message;
  }
}

// ---------------------------------------------------------------- the lock

export const LOCK_FILE = "udm.lock";

interface LockInfo {
  pid: number;
  host: string;
  command: string;
  since: string;
}

export interface RunLock {
  release(): void;
}

/**
 * Take `out/udm.lock` for this process. A lock held by a running process
 * is refused (a UsageError naming its pid and command); a lock whose process
 * is gone (killed) is taken over. The lock goes when the process exits.
 */
export function lockRunFolder(out: string, command: string): RunLock {
  const file = join(resolve(out), LOCK_FILE);
  const me: LockInfo = { pid: process.pid, host: hostname(), command, since: new Date().toISOString() };
  const tmp = `${file}.tmp-${process.pid}-lock`;
  try {
    writeFileSync(tmp, JSON.stringify(me) + "\n");
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new WriteError(`cannot write the lock file ${file}: ${fsReason(e)}`, file, (e as NodeJS.ErrnoException).code);
  }
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        // link() fails if the lock exists, and a reader never sees a half-written lock.
        linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 3) throw e;
      }
      const holder = readLock(file);
      if (holder && holderRunning(holder)) {
        throw new UsageError(`--out ${out} is in use by udm ${holder.command} (pid ${holder.pid}${holder.host !== me.host ? ` on ${holder.host}` : ""}, since ${holder.since}); wait for it to finish or choose another --out`);
      }
      // A stale lock: its process is gone. Remove it only if it is still the same file.
      if (JSON.stringify(readLock(file)) === JSON.stringify(holder)) rmSync(file, { force: true });
      if (holder) process.stderr.write(`udm: note: took over the lock of pid ${holder.pid} (udm ${holder.command}), which is no longer running\n`);
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  let held = true;
  const release = () => {
    if (!held) return;
    held = false;
    process.off("exit", release);
    if (readLock(file)?.pid === process.pid) rmSync(file, { force: true });
  };
  process.on("exit", release);
  return { release };
}

function readLock(file: string): LockInfo | undefined {
  try {
    const v = JSON.parse(readFileSync(file, "utf8"));
    return Number.isInteger(v?.pid) ? (v as LockInfo) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the lock's process still runs; on another machine we cannot tell, so assume it does. */
function holderRunning(l: LockInfo): boolean {
  if (l.host !== hostname()) return true;
  return l.pid !== process.pid && pidAlive(l.pid);
}

