import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { toy2d, toy2dNames } from "../src/data/toy2d.js";
import { parsePointsCsv, readPointsCsv } from "../src/data/csv.js";

function axisStats(x: Float32Array, axis: number): { mean: number; std: number } {
  const n = x.length / 2;
  let m = 0, v = 0;
  for (let i = 0; i < n; i++) m += x[2 * i + axis] / n;
  for (let i = 0; i < n; i++) v += (x[2 * i + axis] - m) ** 2 / n;
  return { mean: m, std: Math.sqrt(v) };
}

test("toy2d: every set has shape [n, 2], finite values, roughly unit scale", () => {
  for (const name of toy2dNames) {
    const x = toy2d(name, 5000, 3);
    assert.deepEqual(x.shape, [5000, 2], name);
    assert.ok(x.data.every(Number.isFinite), name);
    for (const axis of [0, 1]) {
      const { mean, std } = axisStats(x.data, axis);
      assert.ok(Math.abs(mean) < 0.35, `${name} axis ${axis}: mean ${mean}`);
      assert.ok(std > 0.8 && std < 1.2, `${name} axis ${axis}: std ${std}`);
    }
  }
});

test("toy2d: the same seed gives the same points, another seed other points", () => {
  for (const name of toy2dNames) {
    assert.deepEqual(toy2d(name, 100, 7).data, toy2d(name, 100, 7).data, name);
    assert.notDeepEqual(toy2d(name, 100, 7).data, toy2d(name, 100, 8).data, name);
  }
});

test("toy2d: the shapes are right (blobs on a circle, filled checkerboard cells, two arcs)", () => {
  const s = 1 / 1.42;
  const g = toy2d("8gaussians", 2000, 1);
  for (let i = 0; i < 2000; i++) {
    const [x, y] = [g.data[2 * i] / s, g.data[2 * i + 1] / s];
    const k = Math.round(Math.atan2(y, x) / (Math.PI / 4));
    const d = Math.hypot(x - 2 * Math.cos((k * Math.PI) / 4), y - 2 * Math.sin((k * Math.PI) / 4));
    assert.ok(d < 0.6, `8gaussians point ${i} is ${d} from the nearest centre`);
  }
  const c = toy2d("checkerboard", 2000, 1);
  for (let i = 0; i < 2000; i++) {
    const [x, y] = [c.data[2 * i] * 1.15, c.data[2 * i + 1] * 1.15];
    assert.ok(Math.abs(x) <= 2 && Math.abs(y) <= 2, `checkerboard point ${i} outside [-2, 2]^2`);
    assert.equal(((Math.floor(x) + Math.floor(y)) % 2 + 2) % 2, 0, `checkerboard point ${i} (${x}, ${y}) is in an empty cell`);
  }
  const m = toy2d("moons", 2000, 1);
  for (let i = 0; i < 2000; i++) {
    const x = m.data[2 * i] * 0.87 + 0.5, y = m.data[2 * i + 1] * 0.5 + 0.25;
    const upper = Math.abs(Math.hypot(x, y) - 1), lower = Math.abs(Math.hypot(x - 1, y - 0.5) - 1);
    assert.ok(Math.min(upper, lower) < 0.3, `moons point ${i} (${x}, ${y}) is on neither arc`);
  }
});

test("toy2d: rejects a bad size or name", () => {
  assert.throws(() => toy2d("moons", 0, 0), /n must be a positive integer, got 0/);
  assert.throws(() => toy2d("spiral" as never, 10, 0), /unknown data set "spiral"/);
});

test("csv: reads points with or without a header, skipping blank lines and comments", () => {
  const a = parsePointsCsv("x,y\n1,2\n\n# note\n3.5, -4e-1\n", "a.csv");
  assert.deepEqual(a.shape, [2, 2]);
  assert.deepEqual(Array.from(a.data), [1, 2, 3.5, -0.4].map(Math.fround));
  const b = parsePointsCsv("1,2\n3,4\n", "b.csv");
  assert.deepEqual(Array.from(b.data), [1, 2, 3, 4]);
  const dir = mkdtempSync(join(tmpdir(), "udm-csv-"));
  writeFileSync(join(dir, "p.csv"), "x,y\n5,6\n");
  assert.deepEqual(Array.from(readPointsCsv(join(dir, "p.csv")).data), [5, 6]);
});

test("csv: each bad file is one line naming the file, line and value", () => {
  const cases: [string, RegExp][] = [
    ["", /^e\.csv: the CSV file has no rows/],
    ["\n\n# only a comment\n", /^e\.csv: the CSV file has no rows/],
    ["x,y\n", /^e\.csv: the CSV file has a header but no data rows/],
    ["1,2\n3,4,5\n", /^e\.csv:2: expected 2 columns, found 3 \("3,4,5"\)/],
    ["1,2\n3\n", /^e\.csv:2: expected 2 columns, found 1/],
    ["1,2\n3,abc\n", /^e\.csv:2: column 2 is not a finite number: "abc"/],
    ["1,2\n,4\n", /^e\.csv:2: column 1 is not a finite number: ""/],
    ["1,2\nInfinity,4\n", /^e\.csv:2: column 1 is not a finite number: "Infinity"/],
    ["x,y\n1,2\nx,y\n", /^e\.csv:3: column 1 is not a finite number: "x"/],
    ['1,2\n"3,4\n5,6\n7,8\n', /^e\.csv:2: malformed CSV \(a quote opens here and is never closed\)$/],
    ['x,y\n"1","2"\n3,"4\n5,6\n', /^e\.csv:3: malformed CSV \(a quote opens here and is never closed\)$/],
    ["1,2\n3,4\n-1e39,0\n", /^e\.csv:3: column 1 value -1e39 is outside the float32 range/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parsePointsCsv(text, "e.csv"), (e: Error) => re.test(e.message) && !e.message.includes("\n"), JSON.stringify(text));
  }
  assert.throws(() => readPointsCsv("/nonexistent/dir/p.csv"), /^Error: \/nonexistent\/dir\/p\.csv: cannot read the CSV file: no such file \(ENOENT\)/);
});
