import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { init, numpy as np } from "@jax-js/jax";
import { transformer } from "../src/model/transformer.js";
import { decodeSafetensors } from "../src/train/safetensors.js";
import { toParams } from "../src/train/checkpoint.js";

// The PyTorch twin (bench/text_torch.py) is scored by the project's own
// bits/char code on its trained weights, which is only meaningful if it is
// the same function as src/model/transformer.ts: same weights in, same
// logits out. Needs Debian's python3-torch (optional): skipped without it.
const PY = "/usr/bin/python3";
const hasTorch = spawnSync(PY, ["-c", "import torch"]).status === 0;

test("PyTorch twin: the same weights give the same logits as the jax-js Transformer", { skip: hasTorch ? false : `${PY} has no torch (apt-get install python3-torch)` }, async () => {
  await init("wasm");
  const dir = mkdtempSync(join(tmpdir(), "udm-torch-"));
  try {
    const cfg = { vocab: 11, length: 16 };
    writeFileSync(join(dir, "meta.json"), JSON.stringify(cfg));
    const shape = ["--dim", "32", "--layers", "2", "--heads", "4", "--window", "2", "--alibi", "true"];
    execFileSync(PY, ["bench/text_torch.py", "--check", dir, ...shape]);
    const weights = decodeSafetensors(readFileSync(join(dir, "weights.safetensors"))).tensors;
    const io = decodeSafetensors(readFileSync(join(dir, "io.safetensors"))).tensors;
    const net = transformer({ vocab: 11, length: 16, dim: 32, layers: 2, heads: 4, window: 2, alibi: true });
    // Same names and shapes as our own init.
    const ours = net.init(0);
    assert.deepEqual(Object.keys(weights).sort(), Object.keys(ours).sort());
    for (const [k, v] of Object.entries(ours)) assert.deepEqual(weights[k].shape, v.shape, k);
    for (const v of Object.values(ours)) v.dispose();
    const x = io.x;
    const out = (await net.apply(toParams(weights), np.array(x.data).reshape([...x.shape]), np.array(io.t.data)).data()) as Float32Array;
    const want = io.logits.data;
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < want.length; i++) {
      worst = Math.max(worst, Math.abs(out[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    }
    assert.ok(scale > 1, "the output layer is random, so the logits are not all zero");
    console.log(`# max |jax - torch| ${worst}, logits up to ${scale}`);
    assert.ok(worst < 1e-5 * scale, `max |jax - torch| = ${worst} (logits up to ${scale})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
