import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

/**
 * The engine at the command line: --engine picks it, the default (auto) is
 * onnx with a one-line notice, and on a machine where onnxruntime-node does
 * not load (simulated by a loader hook) auto falls back to jax and says why,
 * while an explicit --engine onnx fails with one line.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "udm-engine-cli-"));
const noOrt = ["--import", join(root, "test/fixtures/no-onnxruntime.mjs")];

async function udm(args: string[], nodeArgs: string[] = [], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...nodeArgs, "--import", "tsx", join(root, "src/cli/main.ts"), ...args], { cwd: root, env: { ...process.env, UDM_DEBUG: "", ...env } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const train = (out: string, ...more: string[]) => ["train", "--data", "moons", "--train-rows", "500", "--steps", "5", "--batch-size", "32", "--hidden", "16", "--out", out, "--quiet", ...more];

test("cli: the default engine is onnx, named in one notice line; --engine jax and onnx both train", async () => {
  const auto = await udm(train(join(tmp, "auto")));
  assert.equal(auto.code, 0, auto.stderr);
  assert.deepEqual(auto.stderr.trim().split("\n"), [auto.stderr.trim()], "one line on stderr");
  assert.match(auto.stderr, /^udm: engine: onnx \(onnxruntime-node [\d.]+, \d+ threads?\)$/m);
  const jax = await udm(train(join(tmp, "jax"), "--engine", "jax"));
  assert.equal(jax.code, 0, jax.stderr);
  assert.match(jax.stderr, /^udm: engine: jax \(jax-js jit, Wasm\)$/m);
  const bad = await udm(train(join(tmp, "bad"), "--engine", "tpu"));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^udm: error: --engine must be one of auto, onnx, jax, got "tpu"$/m);
});

test("cli: --threads sets the onnx engine's threads (train and sample), and 0 is a usage error", async () => {
  const one = await udm(train(join(tmp, "one"), "--threads", "1"));
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stderr, /^udm: engine: onnx \(onnxruntime-node [\d.]+, 1 thread\)$/m);
  const sampled = await udm(["sample", "--checkpoint", join(tmp, "one"), "--steps", "3", "-n", "50", "--threads", "2", "--out", join(tmp, "one-s")]);
  assert.equal(sampled.code, 0, sampled.stderr);
  assert.match(sampled.stderr, /engine: onnx \(onnxruntime-node [\d.]+, 2 threads\)/);
  const env = await udm(train(join(tmp, "env")), [], { UDM_THREADS: "1" });
  assert.match(env.stderr, /^udm: engine: onnx \(onnxruntime-node [\d.]+, 1 thread\)$/m, "UDM_THREADS where no --threads");
  const badEnv = await udm(train(join(tmp, "bad-env")), [], { UDM_THREADS: "two" });
  assert.notEqual(badEnv.code, 0);
  assert.match(badEnv.stderr, /UDM_THREADS must be an integer from 1 to 1024, got "two"/);
  const zero = await udm(train(join(tmp, "zero"), "--threads", "0"));
  assert.equal(zero.code, 2);
  assert.match(zero.stderr, /^udm: error: --threads must be an integer from 1 to 1024, got "0"$/m);
});

test("cli: without onnxruntime-node, auto falls back to jax with the reason, and --engine onnx is a one-line error", async () => {
  const fell = await udm(train(join(tmp, "fallback")), noOrt);
  assert.equal(fell.code, 0, fell.stderr);
  assert.match(fell.stderr, /^udm: engine: jax \(jax-js jit, Wasm\) \(onnxruntime-node did not load: Cannot find module 'onnxruntime-node' \(blocked by test\/fixtures\/no-onnxruntime\.mjs\)\)$/m);
  const sampled = await udm(["sample", "--checkpoint", join(tmp, "fallback"), "--steps", "3", "-n", "50"], noOrt);
  assert.equal(sampled.code, 0, sampled.stderr);
  assert.match(sampled.stderr, /engine: jax/);
  const onnx = await udm(train(join(tmp, "onnx"), "--engine", "onnx"), noOrt);
  assert.equal(onnx.code, 1);
  const lines = onnx.stderr.trim().split("\n");
  assert.equal(lines.length, 1, onnx.stderr);
  assert.match(lines[0], /^udm: error: engine onnx: onnxruntime-node did not load \(Cannot find module 'onnxruntime-node'.*\); use engine jax$/);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
