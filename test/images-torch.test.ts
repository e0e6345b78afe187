import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { init, numpy as np } from "@jax-js/jax";
import { unet } from "../src/model/unet.js";
import { decodeSafetensors } from "../src/train/safetensors.js";
import { toParams } from "../src/train/checkpoint.js";

// The PyTorch twin (bench/images_torch.py) is sampled and scored by the
// project's own code on its trained weights, which is only meaningful if it
// is the same function as src/model/unet.ts: same weights in, same outputs
// out. Needs Debian's python3-torch (optional): skipped without it.
const PY = "/usr/bin/python3";
const hasTorch = spawnSync(PY, ["-c", "import torch"]).status === 0;

test("PyTorch twin: the same weights give the same outputs as the jax-js UNet", { skip: hasTorch ? false : `${PY} has no torch (apt-get install python3-torch)` }, async () => {
  await init("wasm");
  const dir = mkdtempSync(join(tmpdir(), "udm-torch-unet-"));
  try {
    // Two channels in (a skip projection in every block), three levels, attention.
    const net = unet({ inChannels: 2, outChannels: 1, channels: [4, 8, 12], attention: true, groups: 4 });
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ shape: [1, 8, 8], unet: net.config }));
    execFileSync(PY, ["bench/images_torch.py", "--check", dir]);
    const weights = decodeSafetensors(readFileSync(join(dir, "weights.safetensors"))).tensors;
    const io = decodeSafetensors(readFileSync(join(dir, "io.safetensors"))).tensors;
    const ours = net.init(0);
    assert.deepEqual(Object.keys(weights).sort(), Object.keys(ours).sort());
    for (const [k, v] of Object.entries(ours)) assert.deepEqual(weights[k].shape, v.shape, k);
    for (const v of Object.values(ours)) v.dispose();
    const out = (await net.apply(toParams(weights), np.array(io.x.data).reshape([...io.x.shape]), np.array(io.t.data)).data()) as Float32Array;
    const want = io.out.data;
    let worst = 0, scale = 0;
    for (let i = 0; i < want.length; i++) {
      worst = Math.max(worst, Math.abs(out[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    }
    assert.ok(scale > 1, "every weight is random, so the output is not zero");
    assert.ok(worst < 1e-4 * scale, `max |jax - torch| = ${worst} (outputs up to ${scale})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
