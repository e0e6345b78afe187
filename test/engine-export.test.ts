import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { init } from "@jax-js/jax";
import * as ort from "onnxruntime-node";
import { Rng } from "../src/core/rng.js";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { resolveEngine } from "../src/engine/index.js";
import { opCounts } from "../src/engine/onnx/index.js";
import { disposeModel, loadModel } from "../src/cli/pipeline.js";
import "../src/cli/entries/index.js";
import { networkForward } from "../src/train/network-denoiser.js";

/**
 * `udm export`: the ONNX file opens in plain onnxruntime-node (no udm code)
 * with the documented inputs x_t and t and a free batch, and gives the jax-js
 * forward of the checkpoint's EMA weights; the JSON beside it describes the
 * process, its schedule and the output.
 */

await init("wasm");
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "udm-export-"));
const jax = (await resolveEngine("jax")).engine;

async function udm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", join(root, "src/cli/main.ts"), ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const randomTensor = (shape: number[], rng: Rng): Tensor => tensor(shape, Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.normal()));

async function checkExport(runDir: string, itemShape: number[], ema = true): Promise<void> {
  const file = join(runDir, "model.onnx");
  const ex = await udm("export", "--checkpoint", runDir, "--onnx", file, "--ema", String(ema));
  assert.equal(ex.code, 0, ex.stderr);
  const meta = JSON.parse(readFileSync(join(runDir, "model.json"), "utf8"));
  assert.deepEqual(meta.inputs.map((i: { name: string; shape: unknown[] }) => [i.name, i.shape]), [["x_t", ["batch", ...itemShape]], ["t", ["batch"]]]);
  assert.equal(meta.output.name, "output");
  assert.equal(meta.process.name, "gaussian");
  assert.equal(meta.process.schedule.t.length, 1001);
  assert.ok(meta.process.schedule.a.length === 1001 && meta.process.schedule.b.length === 1001);

  // No NCHWc op: its weight layout depends on the machine's block size.
  const ops = [...opCounts(new Uint8Array(readFileSync(file))).keys()];
  assert.ok(!ops.some((op) => op.includes("nchwc")), `machine-specific ops in the file: ${ops}`);
  const session = await ort.InferenceSession.create(file);
  assert.deepEqual([...session.inputNames], ["x_t", "t"]);
  assert.deepEqual([...session.outputNames], ["output"]);
  const model = await loadModel(runDir, ema);
  const fwd = networkForward(model.network, model.params, { engine: jax });
  try {
    for (const batch of [1, 7]) {
      const x = randomTensor([batch, ...itemShape], new Rng(batch));
      const t = 0.3 + 0.05 * batch;
      const want = await fwd(x, t);
      const got = (await session.run({ x_t: new ort.Tensor("float32", x.data, x.shape), t: new ort.Tensor("float32", new Float32Array(batch).fill(t), [batch]) })).output;
      assert.deepEqual(got.dims, want.shape, `batch ${batch}: output shape`);
      const scale = Math.max(...want.data.map(Math.abs));
      assert.ok(scale > 1e-3, `batch ${batch}: the output is not trivially zero (${scale})`);
      const err = Math.max(...(got.data as Float32Array).map((v, i) => Math.abs(v - want.data[i])));
      assert.ok(err <= 1e-5 * Math.max(1, scale), `batch ${batch}: max difference ${err} (scale ${scale})`);
    }
  } finally {
    fwd.dispose();
    disposeModel(model);
    await session.release();
  }
}

test("udm export writes an ONNX forward that onnxruntime-node runs at batch 1 and 7 with the jax-js outputs (MLP)", async () => {
  const dir = join(tmp, "moons");
  const tr = await udm("train", "--data", "moons", "--steps", "40", "--batch-size", "64", "--out", dir, "--quiet");
  assert.equal(tr.code, 0, tr.stderr);
  await checkExport(dir, [2]);
});

test("udm export of the default MNIST UNet matches the jax-js forward", async () => {
  const dir = join(tmp, "mnist");
  // A few big steps move the zero-initialised output layer away from 0 (the latest weights, not the EMA).
  const tr = await udm("train", "--data", "mnist", "--train-rows", "64", "--steps", "3", "--batch-size", "4", "--lr", "0.05", "--warmup", "0", "--out", dir, "--quiet");
  assert.equal(tr.code, 0, tr.stderr);
  await checkExport(dir, [1, 28, 28], false);
});

test("udm export refuses a name without .onnx and an existing file without --force", async () => {
  const dir = join(tmp, "moons");
  const bad = await udm("export", "--checkpoint", dir, "--onnx", join(tmp, "model.bin"));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--onnx must name a file ending in \.onnx/);
  assert.ok(existsSync(join(dir, "model.onnx")));
  const again = await udm("export", "--checkpoint", dir, "--onnx", join(dir, "model.onnx"));
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists; pass --force/);
  const forced = await udm("export", "--checkpoint", dir, "--onnx", join(dir, "model.onnx"), "--force");
  assert.equal(forced.code, 0, forced.stderr);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));
