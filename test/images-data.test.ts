import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { PNG } from "pngjs";
import { parseIdx } from "../src/data/idx.js";
import { fashionMnist, mnist } from "../src/data/mnist.js";
import { pngFolder } from "../src/data/png-folder.js";
import { FASHION_SLICE } from "./fixtures/paths.js";

test("parseIdx reads a hand-made file and names what is wrong", () => {
  const bytes = Uint8Array.from([0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6]);
  const a = parseIdx(bytes);
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual([...a.data], [1, 2, 3, 4, 5, 6]);
  assert.throws(() => parseIdx(bytes.subarray(0, 17), "f.idx"), /f\.idx: shape \[2, 3\] needs 6 values but the file holds 5/);
  assert.throws(() => parseIdx(Uint8Array.from([1, 0, 8, 1, 0, 0, 0, 0]), "g"), /g: not an IDX file/);
});

test("MNIST loads as [N, 1, 28, 28] in [-1, 1] with the known first labels", () => {
  const d = mnist({ limit: 50 });
  assert.deepEqual(d.images.shape, [50, 1, 28, 28]);
  // The first MNIST training digits are 5, 0, 4, 1, 9, 2.
  assert.deepEqual([...d.labels.subarray(0, 6)], [5, 0, 4, 1, 9, 2]);
  let min = Infinity, max = -Infinity;
  for (const v of d.images.data) {
    min = Math.min(min, v);
    max = Math.max(max, v);
    // Every value is 2 p / 255 - 1 for an integer byte p.
    const p = ((v + 1) * 255) / 2;
    assert.ok(Math.abs(p - Math.round(p)) < 1e-3);
  }
  assert.equal(min, -1);
  assert.equal(max, 1);
  assert.deepEqual(mnist({ split: "test", limit: 3 }).labels.length, 3);
  // The first test digits are 7, 2, 1.
  assert.deepEqual([...mnist({ split: "test", limit: 3 }).labels], [7, 2, 1]);
});

test("Fashion-MNIST loads from gzipped IDX files (the committed slice), or says how to install them", () => {
  const d = fashionMnist({ limit: 10, dir: FASHION_SLICE });
  assert.deepEqual(fashionMnist({ split: "test", dir: FASHION_SLICE }).images.shape, [500, 1, 28, 28]);
  assert.deepEqual(d.images.shape, [10, 1, 28, 28]);
  // The first Fashion-MNIST training items are an ankle boot (9) and a T-shirt (0).
  assert.deepEqual([...d.labels.subarray(0, 2)], [9, 0]);
  assert.equal(d.classes[9], "Ankle boot");
  assert.throws(() => fashionMnist({ dir: "/nonexistent/fm" }), /apt-get install dataset-fashion-mnist/);
});

function writePng(path: string, w: number, h: number, rgba: (x: number, y: number) => [number, number, number, number]): void {
  const png = new PNG({ width: w, height: h });
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) png.data.set(rgba(x, y), 4 * (y * w + x));
  writeFileSync(path, PNG.sync.write(png));
}

test("a PNG folder loads grey or RGB, resizes by area, and names bad or mixed-size files", () => {
  const dir = mkdtempSync(join(tmpdir(), "udm-png-"));
  try {
    writePng(join(dir, "a.png"), 4, 4, (x, y) => [x * 60, y * 60, 255, 255]);
    writePng(join(dir, "b.png"), 4, 4, () => [0, 0, 0, 0]); // fully transparent -> white
    const rgb = pngFolder(dir, { channels: 3 });
    assert.deepEqual(rgb.images.shape, [2, 3, 4, 4]);
    // a.png pixel (x=2, y=1): R = 120, G = 60, B = 255.
    const at = (n: number, c: number, y: number, x: number) => rgb.images.data[((n * 3 + c) * 4 + y) * 4 + x];
    assert.ok(Math.abs(at(0, 0, 1, 2) - ((120 * 2) / 255 - 1)) < 1e-6);
    assert.ok(Math.abs(at(0, 1, 1, 2) - ((60 * 2) / 255 - 1)) < 1e-6);
    assert.equal(at(1, 2, 3, 3), 1);
    const grey = pngFolder(dir);
    assert.deepEqual(grey.images.shape, [2, 1, 4, 4]);
    const lum = 0.299 * 120 + 0.587 * 60 + 0.114 * 255;
    assert.ok(Math.abs(grey.images.data[1 * 4 + 2] - ((lum * 2) / 255 - 1)) < 1e-5);
    // 2x2 by area averaging: the top-left output pixel averages x, y in {0, 1}.
    const small = pngFolder(dir, { channels: 3, size: 2 });
    assert.deepEqual(small.images.shape, [2, 3, 2, 2]);
    assert.ok(Math.abs(small.images.data[0] - ((30 * 2) / 255 - 1)) < 1e-5);

    writePng(join(dir, "c.png"), 5, 4, () => [0, 0, 0, 255]);
    assert.throws(() => pngFolder(dir), /c\.png is 5x4 but .*a\.png is 4x4/);
    assert.equal(pngFolder(dir, { size: 4 }).images.shape[0], 3);
    writeFileSync(join(dir, "d.png"), "not a png");
    assert.throws(() => pngFolder(dir, { size: 4 }), /cannot decode .*d\.png/);
    assert.throws(() => pngFolder(join(dir, "missing")), /is not a folder/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
