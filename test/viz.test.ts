import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tensor } from "../src/core/tensor.js";
import { Canvas, colors, decodePng } from "../src/viz/canvas.js";
import { writeFileAtomic } from "../src/viz/files.js";
import { textWidth } from "../src/viz/font.js";
import { linePlot, movingAverage } from "../src/viz/lineplot.js";
import { renderReport, writeReport } from "../src/viz/report.js";
import { dataVsSamples, scatterPanel } from "../src/viz/scatter.js";
import { trajectoryPicture, trajectoryRecorder } from "../src/viz/trajectory.js";

const tmp = () => mkdtempSync(join(tmpdir(), "udm-viz-"));
const pixel = (img: { width: number; data: Uint8Array }, x: number, y: number) => Array.from(img.data.subarray(4 * (y * img.width + x), 4 * (y * img.width + x) + 3));

test("png: a canvas saves as a PNG that decodes to the same pixels", () => {
  const c = new Canvas(40, 30);
  c.fillRect(10, 5, 3, 2, colors.samples);
  c.text(1, 20, "T=0.5");
  const file = join(tmp(), "sub", "c.png");
  c.save(file);
  const img = decodePng(readFileSync(file));
  assert.equal(img.width, 40);
  assert.equal(img.height, 30);
  assert.deepEqual(Array.from(img.data), Array.from(c.data));
  assert.deepEqual(pixel(img, 11, 6), [...colors.samples]);
  assert.deepEqual(pixel(img, 20, 5), [...colors.white]);
  assert.equal(textWidth("T=0.5"), 19);
});

test("files: atomic write replaces a file whole; a failed write leaves no temporary and the old content", () => {
  const dir = tmp();
  const file = join(dir, "out.txt");
  writeFileAtomic(file, "first version, long");
  writeFileAtomic(file, "second");
  assert.equal(readFileSync(file, "utf8"), "second");
  // A directory in the way: the rename fails, the error surfaces, nothing is left behind.
  const blocked = join(dir, "blocked");
  mkdirSync(join(blocked, "inside"), { recursive: true });
  assert.throws(() => writeFileAtomic(blocked, "x"));
  assert.deepEqual(readdirSync(dir).sort(), ["blocked", "out.txt"]);
  assert.deepEqual(readdirSync(blocked), ["inside"]);
});

test("scatter: a point lands where the fixed range puts it; data vs samples is three panels", () => {
  const size = 101;
  const panel = scatterPanel({ title: "p", series: [{ points: tensor([2, 2], [0, 0, 3, -3]), color: colors.samples }] }, { size, range: [-3, 3], alpha: 1 });
  const img = decodePng(panel.toPng());
  // Frame at x = 6 (margin), y = 22 (text height 10 + 2 margins); the range maps to the 99 pixels inside it.
  const cx = 6 + 50, cy = 22 + 50;
  assert.deepEqual(pixel(img, cx, cy), [...colors.samples], "origin at the centre");
  assert.deepEqual(pixel(img, 6 + 99, 22 + 99), [...colors.samples], "(3, -3) at the bottom-right corner, inside the frame");
  assert.deepEqual(pixel(img, cx + 20, cy - 20), [...colors.white], "empty elsewhere");
  const triple = dataVsSamples(tensor([1, 2], [0, 0]), tensor([1, 2], [1, 1]), "s", { size });
  assert.equal(triple.width, 3 * panel.width + 4 * 8);
  assert.throws(() => scatterPanel({ title: "3d", series: [{ points: tensor([1, 3], [0, 0, 0]), color: colors.data }] }), /needs 2-D points/);
});

test("trajectory: the recorder keeps x_1, evenly spaced states and the end", () => {
  const rec = trajectoryRecorder(6);
  const steps = 10;
  for (let i = 0; i < steps; i++) {
    const t = 1 - i / steps, s = 1 - (i + 1) / steps;
    const x = tensor([1, 2], [t, t]);
    rec.onStep({ step: i, steps, t, s, xt: x, x0hat: x, xs: tensor([1, 2], [s, s]) });
  }
  assert.deepEqual(rec.snapshots.map((sn) => Number(sn.t.toFixed(6))), [1, 0.8, 0.6, 0.4, 0.2, 0]);
  assert.deepEqual(Array.from(rec.snapshots[2].x.data), [0.6, 0.6].map(Math.fround));
  const few = trajectoryRecorder(6);
  for (let i = 0; i < 3; i++) few.onStep({ step: i, steps: 3, t: 1 - i / 3, s: 1 - (i + 1) / 3, xt: tensor([1, 2]), x0hat: tensor([1, 2]), xs: tensor([1, 2]) });
  assert.equal(few.snapshots.length, 4, "3 steps give x_1 and the 3 states after them");
  assert.equal(few.snapshots.at(-1)!.t, 0);
  const img = decodePng(trajectoryPicture(rec.snapshots).toPng());
  assert.ok(img.width > 6 * 180 && img.height > 180);
});

test("lineplot: draws finite values, skips NaN and non-positive values on a log axis", () => {
  const y = [4, 2, NaN, 1, 0, 0.5, Infinity, 0.25];
  const img = decodePng(linePlot([{ label: "loss", y }], { title: "loss" }).toPng());
  assert.equal(img.width, 640);
  const blue = img.data.some((_, i) => i % 4 === 0 && img.data[i] === colors.data[0] && img.data[i + 1] === colors.data[1] && img.data[i + 2] === colors.data[2]);
  assert.ok(blue, "the line is drawn");
  assert.doesNotThrow(() => linePlot([{ label: "none", y: [NaN] }]).toPng());
  assert.deepEqual(movingAverage([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5]);
});

test("report: one self-contained page with the metrics table and the PNGs inline", () => {
  const dir = tmp();
  const png = join(dir, "a.png");
  new Canvas(4, 4).save(png);
  const html = renderReport({
    title: "demo <1>",
    metrics: [{ sampler: "ddpm", "energy distance": 0.00123456 }, { sampler: "ddim", extra: 3 }],
    sections: [{ heading: "Samples", images: [{ path: png, caption: "data & samples" }] }],
  });
  assert.match(html, /<title>demo &lt;1&gt;<\/title>/);
  assert.match(html, /<tr><th>sampler<\/th><th>energy distance<\/th><th>extra<\/th><\/tr>/);
  assert.match(html, /<td>ddpm<\/td><td>0\.001235<\/td><td><\/td>/);
  assert.ok(html.includes(`data:image/png;base64,${readFileSync(png).toString("base64")}`));
  assert.match(html, /<figcaption>data &amp; samples<\/figcaption>/);
  writeFileSync(join(dir, "report.html"), "old");
  writeReport(join(dir, "report.html"), { title: "t", sections: [] });
  assert.match(readFileSync(join(dir, "report.html"), "utf8"), /<h1>t<\/h1>/);
});
