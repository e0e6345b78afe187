import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { main } from "../src/cli/main.js";
import { sliceBatch, tensor } from "../src/core/tensor.js";
import { mnist } from "../src/data/mnist.js";
import { decodePng } from "../src/viz/canvas.js";
import { imageGrid } from "../src/viz/image-grid.js";

// The image features of `udm sample` on tiny, briefly trained models: what is
// checked is the plumbing (flags, files, errors, known pixels kept); whether
// guidance works is checked on trained models in images-guidance.test.ts.

async function quiet(argv: string[]): Promise<{ code: number; out: string[]; err: string }> {
  const out: string[] = [];
  let err = "";
  const log = console.log;
  const write = process.stderr.write.bind(process.stderr);
  console.log = (...a: unknown[]) => void out.push(a.join(" "));
  process.stderr.write = ((s: string) => ((err += s), true)) as typeof process.stderr.write;
  try {
    return { code: await main(argv), out, err };
  } finally {
    console.log = log;
    process.stderr.write = write;
  }
}

const tiny = ["--data", "mnist", "--train-rows", "64", "--held-out", "16", "--steps", "2", "--batch-size", "4", "--channels", "4,8", "--attention", "false", "--quiet"];

test("udm sample --class/--guidance on a --conditional model; clear errors for unconditional models and bad classes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udm-class-"));
  try {
    const run = join(dir, "run");
    assert.equal((await quiet(["train", ...tiny, "--process", "mask", "--levels", "4", "--conditional", "--out", run])).code, 0);
    const config = JSON.parse(readFileSync(join(run, "checkpoint", "config.json"), "utf8"));
    assert.equal(config.network.config.classes, 10);
    assert.equal(config.network.config.levels, 4);
    assert.equal(config.metadata.udm.options.labelDrop, 0.15);
    const s = await quiet(["sample", "--checkpoint", run, "--class", "3", "--guidance", "2", "-n", "4", "--steps", "3", "--out", join(dir, "s")]);
    assert.equal(s.code, 0, s.err);
    const samples = JSON.parse(readFileSync(join(dir, "s", "samples.json"), "utf8")) as { shape: number[]; data: number[] };
    assert.deepEqual(samples.shape, [4, 1, 28, 28]);
    // Categorical pixels: every value is one of the 4 levels.
    assert.ok(samples.data.every((v) => [-1, -1 / 3, 1 / 3, 1].some((l) => Math.abs(v - l) < 1e-6)));
    assert.ok(existsSync(join(dir, "s", "samples.png")));
    assert.equal((await quiet(["sample", "--checkpoint", run, "--class", "all", "-n", "3", "--steps", "2", "--out", join(dir, "all")])).code, 0);

    const bad = async (args: string[], re: RegExp) => {
      const r = await quiet(["sample", "--checkpoint", run, "-n", "2", "--steps", "2", "--out", join(dir, "x"), ...args]);
      assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`);
      assert.match(r.err, re);
    };
    await bad(["--class", "10"], /--class must be a class id 0\.\.9, a class name \(0, 1, .*\) or all, got "10"/);
    await bad(["--class", "three"], /--class must be/);
    await bad(["--guidance", "2"], /--guidance needs --class/);
    await bad(["--class", "1", "--guidance", "-1"], /guidance/);

    const plain = join(dir, "plain");
    assert.equal((await quiet(["train", ...tiny, "--process", "gaussian", "--out", plain])).code, 0);
    const r = await quiet(["sample", "--checkpoint", plain, "--class", "3", "-n", "2", "--steps", "2"]);
    assert.equal(r.code, 2);
    assert.match(r.err, /trained without class labels \(train it with --conditional\)/);
    const pngs = join(dir, "pngs");
    for (let i = 0; i < 2; i++) imageGrid(sliceBatch(mnist({ limit: 2 }).images, i, i + 1), { scale: 1, gap: 0 }).save(join(pngs, `d${i}.png`));
    const png = await quiet(["train", "--data", `png:${pngs}`, "--process", "gaussian", "--conditional", "--steps", "1", "--out", join(dir, "p")]);
    assert.equal(png.code, 2);
    assert.match(png.err, /--conditional needs labelled data/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("udm sample --inpaint with a named region or a mask PNG, for Gaussian and pixel masking: known pixels kept, a grid of inputs and completions", async () => {
  const dir = mkdtempSync(join(tmpdir(), "udm-inpaint-"));
  try {
    const digits = sliceBatch(mnist({ split: "test", limit: 2 }).images, 0, 2);
    const inputs = join(dir, "inputs");
    for (let i = 0; i < 2; i++) imageGrid(sliceBatch(digits, i, i + 1), { scale: 1, gap: 0 }).save(join(inputs, `d${i}.png`));
    // A mask PNG whose light left half is to be filled: the same as --mask left.
    const maskPng = join(dir, "mask.png");
    imageGrid(tensor([1, 1, 28, 28], Float32Array.from({ length: 784 }, (_, i) => (i % 28 < 14 ? 1 : -1))), { scale: 1, gap: 0 }).save(maskPng);
    for (const process of ["gaussian", "mask"]) {
      const run = join(dir, process);
      assert.equal((await quiet(["train", ...tiny, "--process", process, "--out", run])).code, 0);
      for (const mask of ["left", maskPng]) {
        const out = join(dir, `out-${process}-${mask === "left" ? "left" : "png"}`);
        const r = await quiet(["sample", "--checkpoint", run, "--inpaint", inputs, "--mask", mask, "-n", "3", "--steps", "3", "--out", out]);
        assert.equal(r.code, 0, r.err);
        const s = JSON.parse(readFileSync(join(out, "samples.json"), "utf8")) as { shape: number[]; data: number[] };
        assert.deepEqual(s.shape, [6, 1, 28, 28]);
        // Completion j of input i is row 3 i + j; its right half (known) is the input's, up to 8-bit PNG rounding.
        for (let row = 0; row < 6; row++) {
          const i = Math.floor(row / 3);
          for (let p = 0; p < 784; p++) if (p % 28 >= 14) assert.ok(Math.abs(s.data[row * 784 + p] - digits.data[i * 784 + p]) < 1e-5, `${process} row ${row} pixel ${p}`);
        }
        const png = decodePng(readFileSync(join(out, "inpaint.png")));
        // Columns: input, known, 3 completions; rows: the 2 inputs.
        assert.ok(png.width > 5 * 84 && png.height > 2 * 84, `${png.width} x ${png.height}`);
      }
    }
    const blur = join(dir, "blur");
    assert.equal((await quiet(["train", ...tiny, "--process", "blur", "--out", blur])).code, 0);
    const no = await quiet(["sample", "--checkpoint", blur, "--inpaint", inputs, "--mask", "left", "--steps", "2"]);
    assert.equal(no.code, 2);
    assert.match(no.err, /does not inpaint \(gaussian and pixel-mask do\)/);
    const lone = await quiet(["sample", "--checkpoint", blur, "--inpaint", inputs, "--steps", "2"]);
    assert.match(lone.err, /--inpaint and --mask go together/);
    const missing = await quiet(["sample", "--checkpoint", join(dir, "mask"), "--inpaint", inputs, "--mask", "middle", "--steps", "2"]);
    assert.equal(missing.code, 2);
    assert.match(missing.err, /--mask: middle does not exist \(give a PNG file or a folder of PNGs or a region \(left, right, top, bottom, centre\)\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
