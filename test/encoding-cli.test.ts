import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../src/cli/main.js";
import { TEXT_LENGTH } from "../src/cli/entries/text.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";

// `udm train --process encode` on text, then sample (presets, --r, infill) and
// eval --nll; and --nll for replacement. Tiny models: this checks the
// plumbing, not quality (bench/text-compare.ts measures that).
test("CLI: encode on text:carroll-alice trains, samples (ddpm, ddim, --r, DPM-Solver++ on E[E(x0) | x_t], infill), and reports bits/char; replace reports its bound", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udm-encode-"));
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    const tiny = ["--steps", "3", "--batch-size", "8", "--tf-dim", "16", "--tf-layers", "1", "--quiet"];
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "encode", "--embed-dim", "8", ...tiny, "--out", join(dir, "e")]), 0);
    // The encoder's weights are in the same checkpoint as the network's.
    const ck = loadCheckpoint(join(dir, "e"));
    assert.deepEqual(ck.params["encoder.emb"].shape.slice(1), [8]);
    assert.ok(Object.keys(ck.params).some((k) => k.startsWith("block0.")));
    const settings = [[[], "ddpm"], [["--preset", "ddim", "--eta", "0.5"], "ddim (eta = 0.5)"], [["--r", "0.3"], "r = 0.3"], [["--sampler", "dpm-solver++"], "dpm-solver++"]] as const;
    for (const [flags, label] of settings) {
      logs.length = 0;
      assert.equal(await main(["sample", "--checkpoint", join(dir, "e"), "-n", "3", "--steps", "6", ...flags, "--out", join(dir, "s")]), 0);
      const rows = readFileSync(join(dir, "s", "samples.txt"), "utf8").trimEnd().split("\n");
      assert.equal(rows.length, 3);
      for (const r of rows) assert.equal([...r].length, TEXT_LENGTH);
      assert.ok(logs.some((l) => l.includes(label)), logs.join("\n"));
    }
    assert.equal(await main(["sample", "--checkpoint", join(dir, "e"), "-n", "2", "--steps", "6", "--infill", "Alice was ____ tired", "--out", join(dir, "inf")]), 0);
    for (const r of readFileSync(join(dir, "inf", "samples.txt"), "utf8").trimEnd().split("\n")) {
      assert.equal(r.slice(0, 10), "Alice was ", r);
      assert.equal(r.slice(14, 20), " tired", r);
    }
    assert.equal(await main(["sample", "--checkpoint", join(dir, "e"), "--preset", "ddpm", "--r", "0.2", "--out", join(dir, "bad")]), 2);
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "encode", "--embed-norm", "big", ...tiny, "--out", join(dir, "bad2")]), 2);
    logs.length = 0;
    assert.equal(await main(["eval", "--checkpoint", join(dir, "e"), "-n", "4", "--steps", "4", "--nll", "--nll-rows", "16"]), 0);
    assert.ok(logs.some((l) => /held-out NLL: .* bits\/dim .*embedding space.*bits per character/.test(l)), logs.join("\n"));

    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "replace", "--schedule", "cosine", ...tiny, "--out", join(dir, "r")]), 0);
    logs.length = 0;
    assert.equal(await main(["eval", "--checkpoint", join(dir, "r"), "-n", "4", "--steps", "4", "--nll", "--nll-rows", "16"]), 0);
    assert.ok(logs.some((l) => /held-out NLL: .* bits\/dim .*replacement NELBO.*bits per character/.test(l)), logs.join("\n"));
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "replace", "--variant", "different", ...tiny, "--out", join(dir, "rd")]), 0);
    assert.equal(await main(["eval", "--checkpoint", join(dir, "rd"), "-n", "4", "--steps", "4", "--nll"]), 2);
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
});
