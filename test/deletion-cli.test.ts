import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../src/cli/main.js";
import { loadCheckpoint } from "../src/train/checkpoint.js";
import { loadTextUnits, textUnits } from "../src/data/text.js";
import { rowLengths } from "../src/core/padded.js";

// `udm train --process delete` on text phrases, then show, sample (plain and
// infill) and eval --nll. Tiny models: this checks the plumbing, not quality
// (bench/deletion.ts measures that).

test("text units: phrases and words of at most maxLength characters, padded with PAD = V", () => {
  assert.deepEqual(textUnits("Emma Woodhouse, handsome, clever, and rich; with a _comfortable_ home", "phrase", 16), ["Emma Woodhouse", "handsome", "clever", "and rich", "with a comfortable home"].filter((s) => s.length <= 16));
  assert.deepEqual(textUnits("It's a truth -- universally acknowledged!", "word", 8), ["It's", "a", "truth", "acknowle"].slice(0, 3));
  const d = loadTextUnits("text:carroll-alice", { unit: "phrase", maxLength: 24 });
  const V = d.vocab.chars.length;
  assert.equal(d.train.shape[1], 24);
  const lengths = rowLengths(d.train, V);
  assert.ok(Math.min(...lengths) >= 1 && Math.max(...lengths) === 24 && new Set(lengths).size > 20, "lengths vary from 1 to 24");
  assert.ok(d.heldOut.shape[0] > 100);
});

test("CLI: delete on text:carroll-alice trains on phrases, shows x_t, samples (plain, infill), and reports bits/char and lengths", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udm-delete-"));
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    const tiny = ["--steps", "3", "--batch-size", "8", "--tf-dim", "16", "--tf-layers", "1", "--text-length", "20", "--quiet"];
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "delete", ...tiny, "--out", join(dir, "d")]), 0);
    const ck = loadCheckpoint(join(dir, "d"));
    assert.equal(ck.config.network.name, "insertion-transformer");
    const saved = ck.config.metadata.udm as { spec: { dataOptions: unknown }; data: { state: { unit?: string } } };
    assert.deepEqual(saved.spec.dataOptions, { textUnit: "auto", textLength: 20 });
    assert.equal(saved.data.state.unit, "phrase");

    logs.length = 0;
    assert.equal(await main(["show", "--data", "text:carroll-alice", "--process", "delete", "--text-length", "20", "-n", "2", "--columns", "5", "--out", join(dir, "show")]), 0);
    const strip = readFileSync(join(dir, "show", "forward.txt"), "utf8").split("\n").filter((l) => l.startsWith("t = "));
    assert.equal(strip.length, 10);
    assert.ok(strip[0].startsWith("t = 0.00 | ") && strip[4] === "t = 1.00 | ", strip.join("\n"));
    assert.ok(logs.some((l) => l.includes("t = 0.50 | ")));

    logs.length = 0;
    assert.equal(await main(["sample", "--checkpoint", join(dir, "d"), "-n", "5", "--steps", "6", "--out", join(dir, "s")]), 0);
    const rows = readFileSync(join(dir, "s", "samples.txt"), "utf8").split("\n").slice(0, -1);
    assert.equal(rows.length, 5);
    for (const r of rows) assert.ok([...r].length <= 20, r);
    assert.ok(logs.filter((l) => l.startsWith("| ")).length === 5, logs.join("\n"));

    assert.equal(await main(["sample", "--checkpoint", join(dir, "d"), "-n", "4", "--steps", "6", "--infill", "Alice _ the _", "--out", join(dir, "inf")]), 0);
    for (const r of readFileSync(join(dir, "inf", "samples.txt"), "utf8").split("\n").slice(0, -1)) {
      assert.match(r, /^Alice .*the .*$/s, r);
      assert.ok([...r].length <= 20, r);
    }
    assert.equal(await main(["sample", "--checkpoint", join(dir, "d"), "-n", "2", "--infill", "Alice", "--out", join(dir, "bad")]), 2);

    logs.length = 0;
    assert.equal(await main(["eval", "--checkpoint", join(dir, "d"), "-n", "6", "--steps", "4", "--nll", "--nll-rows", "8"]), 0);
    assert.ok(logs.some((l) => /held-out NLL: .* bits\/dim .*deletion bound.*bits per character/.test(l)), logs.join("\n"));
    assert.ok(logs.some((l) => /^heldOutMeanLength: /.test(l)) && logs.some((l) => /^lengthTotalVariation: /.test(l)), logs.join("\n"));

    // The same phrases for masking: PAD is one more token there.
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "mask", "--text-unit", "phrase", ...tiny, "--out", join(dir, "m")]), 0);
    logs.length = 0;
    assert.equal(await main(["eval", "--checkpoint", join(dir, "m"), "-n", "4", "--steps", "4", "--nll", "--nll-rows", "8"]), 0);
    assert.ok(logs.some((l) => /held-out NLL: .* bits\/dim .*masking NELBO/.test(l)), logs.join("\n"));
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "delete", "--text-unit", "line", "--out", join(dir, "bad2")]), 2);
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
});
