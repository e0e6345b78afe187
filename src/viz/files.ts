import { renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { describeFsError, ensureDir } from "../io/files.js";

/**
 * Write a file atomically: the bytes go to a temporary sibling that is then
 * renamed over the target, so a reader (or a crash) never sees half a file
 * and a failed write leaves any previous file untouched. A failure names the
 * path and the reason (no space left, read-only...).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  ensureDir(dirname(path));
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw describeFsError(e, path);
  }
}
