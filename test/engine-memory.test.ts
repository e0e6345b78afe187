import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * Issue 14: the default image commands fit jax-js's 4 GiB Wasm heap. Before
 * the engines sized their work, `udm sample` (2000 samples, forwards of 1024
 * rows) and `udm train --data mnist` (batch 256) died with "Allocation
 * exceeds the 4 GiB memory32 limit". Both run here on the jax engine, with
 * their default batch sizes (few steps: the point is memory, not quality).
 */

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "udm-memory-"));

async function udm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", join(root, "src/cli/main.ts"), ...args], { cwd: root, maxBuffer: 1 << 26 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test("jax: udm sample draws its default 2000 MNIST images with the default UNet", async () => {
  const out = join(tmp, "small");
  const tr = await udm("train", "--data", "mnist", "--train-rows", "64", "--steps", "1", "--batch-size", "8", "--engine", "jax", "--out", out, "--quiet");
  assert.equal(tr.code, 0, tr.stderr);
  const sa = await udm("sample", "--checkpoint", out, "--steps", "1", "--engine", "jax");
  assert.equal(sa.code, 0, sa.stderr);
  assert.match(sa.stdout, /^2000 samples, /m);
  const samples = JSON.parse(readFileSync(join(out, "samples-ddpm", "samples.json"), "utf8"));
  assert.deepEqual(samples.shape, [2000, 1, 28, 28]);
  assert.ok(samples.data.every(Number.isFinite));
});

test("jax: udm train --data mnist runs a step at its default batch of 256 (as micro-batches)", async () => {
  const out = join(tmp, "default-batch");
  const tr = await udm("train", "--data", "mnist", "--train-rows", "256", "--steps", "1", "--engine", "jax", "--out", out, "--quiet");
  assert.equal(tr.code, 0, tr.stderr);
  assert.match(tr.stderr, /batch 256 runs as \d+ micro-batches of up to \d+ rows to fit the jax engine's memory/);
  assert.match(tr.stdout, /step 1 of 1/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
