import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../src/cli/main.js";
import { mnist } from "../src/data/mnist.js";
import { decodePng } from "../src/viz/canvas.js";

test("udm show draws the forward process: column t = 0 is the data, t = 1 of blur is flat", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udm-show-"));
  const log = console.log;
  console.log = () => {};
  try {
    assert.equal(await main(["show", "--data", "mnist", "--process", "blur", "-n", "2", "--columns", "3", "--train-rows", "10", "--out", dir]), 0);
    const png = decodePng(readFileSync(join(dir, "forward.png")));
    // Layout of imageColumns (scale 3, gap 2): a 20 px title line and a 20 px label line over the
    // pixels; columns 84 + 6 px wide with the image 3 px in, rows of 28 * 3 + 2 after a 2 px gap.
    const x0 = mnist({ limit: 2 }).images;
    const colW = 90;
    const grey = (x: number, y: number) => png.data[4 * (y * png.width + x)];
    const top = 20 + 20 + 2;
    for (const [i, j] of [[5, 14], [14, 14], [20, 8]]) {
      // Image 1, pixel (i, j) in column 0 (t = 0): the data, as a byte.
      const want = Math.round(((x0.data[784 + i * 28 + j] + 1) / 2) * 255);
      const px = 2 + (colW - 84) / 2 + j * 3 + 1, py = top + 86 + i * 3 + 1;
      assert.ok(Math.abs(grey(px, py) - want) <= 1, `pixel (${i}, ${j}): ${grey(px, py)} vs ${want}`);
    }
    // Column 2 (t = 1): blur keeps only the mean, so the image is flat (up to sigma = 1e-3 noise).
    const vals = new Set<number>();
    for (let i = 0; i < 28; i += 3) for (let j = 0; j < 28; j += 3) vals.add(grey(2 + 2 * (colW + 2) + (colW - 84) / 2 + j * 3 + 1, top + i * 3 + 1));
    assert.ok(Math.max(...vals) - Math.min(...vals) <= 1, `t = 1 values ${[...vals]}`);
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
});

test("udm train/sample/eval on mnist with --process mask (pixel masking): samples drop the mask channel, eval reports the classifier scores", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udm-imgcli-"));
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    const run = join(dir, "run");
    assert.equal(await main(["train", "--data", "mnist", "--process", "mask", "--train-rows", "64", "--held-out", "32", "--steps", "2", "--batch-size", "4", "--channels", "4,8", "--attention", "false", "--quiet", "--out", run]), 0);
    assert.equal(await main(["sample", "--checkpoint", run, "-n", "3", "--steps", "4", "--r", "0", "--format", "json", "--out", join(dir, "s")]), 0);
    const s = JSON.parse(readFileSync(join(dir, "s", "samples.json"), "utf8")) as { shape: number[] };
    assert.deepEqual(s.shape, [3, 1, 28, 28]);
    logs.length = 0;
    assert.equal(await main(["eval", "--checkpoint", run, "-n", "8", "--steps", "4", "--r", "0", "--json"]), 0);
    const report = JSON.parse(logs[logs.length - 1]) as Record<string, number>;
    assert.ok(Number.isFinite(report.classifierFrechet) && report.classifierFrechet > 0, JSON.stringify(report));
    assert.ok(Number.isFinite(report.classEntropy), JSON.stringify(report));
    assert.ok(Number.isFinite(report.energyDistance), JSON.stringify(report));
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
});

test("udm demo --data mnist: a grid per sampler (ddim, ddpm; no analytic-dpm), no likelihood, the report", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udm-imgdemo-"));
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    const out = join(dir, "demo");
    const code = await main(["demo", "--data", "mnist", "--train-rows", "64", "--held-out", "16", "--steps", "2", "--batch-size", "4", "--channels", "4,8", "--attention", "false", "-n", "4", "--sample-steps", "2", "--quiet", "--out", out]);
    assert.equal(code, 0, logs.join("\n"));
    for (const f of ["samples-ddim.png", "samples-ddpm.png", "report.html", "metrics.json"]) assert.ok(existsSync(join(out, f)), f);
    assert.ok(!existsSync(join(out, "samples-analytic-dpm.png")));
    const metrics = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8"));
    assert.deepEqual(metrics.samplers.map((r: { sampler: string }) => r.sampler), ["ddpm", "ddim (eta = 0)"]);
    assert.equal(metrics.heldOutNll, null);
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
});

test("udm train --process heat|blur --noise cosine: blurring diffusion trains, is restored from its checkpoint and samples; --sigma with --noise is a usage error", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udm-blurring-"));
  let errors = "";
  const [log, write] = [console.log, process.stderr.write.bind(process.stderr)];
  console.log = () => {};
  process.stderr.write = ((s: string) => ((errors += s), true)) as typeof process.stderr.write;
  try {
    const run = join(dir, "run");
    assert.equal(await main(["train", "--data", "mnist", "--process", "heat", "--noise", "cosine", "--loss", "mse", "--train-rows", "32", "--steps", "2", "--batch-size", "4", "--channels", "4,8", "--attention", "false", "--quiet", "--out", run]), 0);
    const ckpt = JSON.parse(readFileSync(join(run, "checkpoint", "config.json"), "utf8")) as { process: string };
    assert.equal(ckpt.process, "heat(noise=cosine)");
    assert.equal(await main(["sample", "--checkpoint", run, "-n", "2", "--steps", "3", "--format", "json", "--out", join(dir, "s")]), 0);
    assert.ok(existsSync(join(dir, "s", "samples.json")));
    assert.equal(await main(["train", "--data", "mnist", "--process", "blur", "--noise", "cosine", "--sigma", "0.05", "--train-rows", "32", "--steps", "1", "--out", join(dir, "bad")]), 2);
    assert.match(errors, /--sigma and --noise cosine both set the noise of blur/);
  } finally {
    console.log = log;
    process.stderr.write = write;
    rmSync(dir, { recursive: true, force: true });
  }
});
