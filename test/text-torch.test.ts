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
import { tensor } from "../src/core/tensor.js";
import { masking } from "../src/processes/masking.js";
import { blockMasking } from "../src/processes/block.js";
import { tokenObjective } from "../src/text/objective.js";
import { blockObjective } from "../src/text/block.js";
import { objectiveLoss } from "../src/train/loss.js";
import type { Objective } from "../src/train/types.js";
import type { TokenProcess } from "../src/processes/tokens.js";

// The PyTorch twin (bench/text_torch.py) is scored by the project's own
// bits/char code on its trained weights, which is only meaningful if it is
// the same function as src/model/transformer.ts: same weights in, same
// logits out. Needs Debian's python3-torch (optional): skipped without it.
const PY = "/usr/bin/python3";
const hasTorch = spawnSync(PY, ["-c", "import torch"]).status === 0;

/** Random weights and logits from bench/text_torch.py --check, then the same weights and inputs through transformer.ts. */
async function twinLogits(shape: string[], config: Parameters<typeof transformer>[0], inputWidth: number): Promise<void> {
  await init("wasm");
  const dir = mkdtempSync(join(tmpdir(), "udm-torch-"));
  try {
    writeFileSync(join(dir, "meta.json"), JSON.stringify({ vocab: config.vocab, length: config.length }));
    execFileSync(PY, ["bench/text_torch.py", "--check", dir, ...shape]);
    const weights = decodeSafetensors(readFileSync(join(dir, "weights.safetensors"))).tensors;
    const io = decodeSafetensors(readFileSync(join(dir, "io.safetensors"))).tensors;
    const net = transformer(config);
    // Same names and shapes as our own init.
    const ours = net.init(0);
    assert.deepEqual(Object.keys(weights).sort(), Object.keys(ours).sort());
    for (const [k, v] of Object.entries(ours)) assert.deepEqual(weights[k].shape, v.shape, k);
    for (const v of Object.values(ours)) v.dispose();
    const x = io.x;
    assert.equal(x.shape[1], inputWidth);
    const out = (await net.apply(toParams(weights), np.array(x.data).reshape([...x.shape]), np.array(io.t.data)).data()) as Float32Array;
    const want = io.logits.data;
    assert.equal(out.length, want.length);
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < want.length; i++) {
      worst = Math.max(worst, Math.abs(out[i] - want[i]));
      scale = Math.max(scale, Math.abs(want[i]));
    }
    assert.ok(scale > 1, "the output layer is random, so the logits are not all zero");
    console.log(`# max |jax - torch| ${worst}, logits up to ${scale}`);
    assert.ok(worst < 1e-5 * scale, `max |jax - torch| = ${worst} (logits up to ${scale})`);
    // The twin's training loss is the project's: the same batch, times and uniforms through the process's forward,
    // the objective's input/target/weight and its loss, for both weightings.
    const L = config.length;
    const x0 = tensor([3, L], io.x0.data);
    const u = tensor([3, L], io.u.data);
    const t = Float32Array.from(io.tl.data);
    for (const weighting of ["mean", "elbo"] as const) {
      const process: TokenProcess<unknown> = config.block ? blockMasking({ vocab: config.vocab, length: L, block: config.block }) : masking({ vocab: config.vocab });
      const objective = (config.block ? blockObjective(process as ReturnType<typeof blockMasking>, { weighting }) : tokenObjective(process, { weighting })) as Objective<typeof x0, unknown>;
      const xt = process.forward(x0, t, u);
      const input = objective.input ? objective.input(x0, xt, t, u) : xt;
      const { target, weight } = objective.target(x0, xt, t, u);
      const out = net.apply(toParams(weights), np.array(input.data).reshape([...input.shape]), np.array(t));
      const loss = ((await objectiveLoss(objective.loss, out, np.array(target.data).reshape([...target.shape]), np.array(weight!.data).reshape([...weight!.shape])).data()) as Float32Array)[0];
      const theirs = io[`loss.${weighting}`].data[0];
      console.log(`# ${weighting} loss: jax ${loss}, torch ${theirs}`);
      assert.ok(Math.abs(loss - theirs) < 1e-5 * Math.abs(theirs), `${weighting} loss: jax ${loss}, torch ${theirs}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const skip = hasTorch ? false : `${PY} has no torch (apt-get install python3-torch)`;

test("PyTorch twin: the same weights give the same logits as the jax-js Transformer", { skip }, async () => {
  await twinLogits(["--dim", "32", "--layers", "2", "--heads", "4", "--window", "2", "--alibi", "true"], { vocab: 11, length: 16, dim: 32, layers: 2, heads: 4, window: 2, alibi: true }, 16);
});

// The block network's twin: [x_t, x0] input, block-causal attention with ALiBi, the neighbour rule across blocks
// (window 3 > block 2, so neighbours reach into the next-but-one block), no time layers.
test("PyTorch twin: the block network (block diffusion) gives the same logits as the jax-js one", { skip }, async () => {
  await twinLogits(["--dim", "32", "--layers", "2", "--heads", "4", "--window", "3", "--alibi", "true", "--block", "2"], { vocab: 11, length: 16, dim: 32, layers: 2, heads: 4, window: 3, alibi: true, block: 2 }, 32);
});
