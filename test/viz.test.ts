import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseHTML } from "linkedom";
import { tensor } from "../src/core/tensor.js";
import { Canvas, decodePng } from "../src/viz/canvas.js";
import { chart } from "../src/viz/chart.js";
import { writeFileAtomic } from "../src/viz/files.js";
import { imageGrid } from "../src/viz/image-grid.js";
import { linePlot } from "../src/viz/lineplot.js";
import { lossPlot } from "../src/viz/plots/loss.js";
import { scatterPlot } from "../src/viz/plots/scatter.js";
import { colors } from "../src/viz/plots/style.js";
import { renderReport, writeReport } from "../src/viz/report.js";
import { dataVsSamples } from "../src/viz/scatter.js";
import { trajectoryPicture, trajectoryRecorder } from "../src/viz/trajectory.js";

const tmp = () => mkdtempSync(join(tmpdir(), "udm-viz-"));
const pixel = (img: { width: number; data: Uint8Array }, x: number, y: number) => Array.from(img.data.subarray(4 * (Math.round(y) * img.width + Math.round(x)), 4 * (Math.round(y) * img.width + Math.round(x)) + 3));
const rgb = (hex: string) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
const newDocument = () => parseHTML("<!doctype html><html><body></body></html>").document as unknown as Document;
const texts = (svg: Element) => Array.from(svg.querySelectorAll("text"), (t) => t.textContent);

test("png: a canvas saves as a PNG that decodes to the same pixels", () => {
  const c = new Canvas(40, 30);
  c.fillRect(10, 5, 3, 2, [220, 80, 30]);
  const file = join(tmp(), "sub", "c.png");
  c.save(file);
  const img = decodePng(readFileSync(file));
  assert.equal(img.width, 40);
  assert.equal(img.height, 30);
  assert.deepEqual(Array.from(img.data), Array.from(c.data));
  assert.deepEqual(pixel(img, 11, 6), [220, 80, 30]);
  assert.deepEqual(pixel(img, 20, 5), [255, 255, 255]);
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

test("scatter: points land where the fixed range puts them, outliers clamp to the frame, NaN is left out", () => {
  // The browser-safe chart code, drawn into a document we pass (as the playground passes the page's).
  const svg = scatterPlot([{ title: "p", series: [{ points: tensor([4, 2], [0, 0, 3, -3, 10, 10, NaN, 0]), color: colors.samples }] }], { size: 200, range: [-3, 3], document: newDocument() });
  const frame = svg.querySelector("rect[aria-label=frame]") ?? svg.querySelector("g[aria-label=frame] rect");
  assert.ok(frame, "a frame is drawn");
  const [fx, fy, fw, fh] = ["x", "y", "width", "height"].map((k) => Number(frame.getAttribute(k)));
  const dots = Array.from(svg.querySelectorAll("g[aria-label=dot] circle"), (c) => [Number(c.getAttribute("cx")), Number(c.getAttribute("cy"))]);
  assert.equal(dots.length, 3, "the NaN point is not drawn");
  const near = (a: number[], b: number[]) => Math.abs(a[0] - b[0]) < 0.6 && Math.abs(a[1] - b[1]) < 0.6;
  assert.ok(near(dots[0], [fx + fw / 2, fy + fh / 2]), `origin at the centre: ${dots[0]} vs frame ${[fx, fy, fw, fh]}`);
  assert.ok(near(dots[1], [fx + fw, fy + fh]), "(3, -3) at the bottom-right corner");
  assert.ok(near(dots[2], [fx + fw, fy]), "(10, 10) clamped to the top-right corner");
  assert.ok(texts(svg).includes("p"), "the panel title");
  assert.throws(() => scatterPlot([{ title: "3d", series: [{ points: tensor([1, 3], [0, 0, 0]), color: colors.data }] }], { document: newDocument() }), /needs 2-D points/);
});

test("scatter PNG: resvg draws the points in their colour where the SVG puts them, and the text with the shipped font", () => {
  const c = dataVsSamples(tensor([1, 2], [0, 0]), tensor([1, 2], [1.5, 1.5]), "ddpm", { size: 200, alpha: 1, radius: 5 });
  const img = decodePng(c.toPng());
  assert.equal(img.width, 2 * c.width, "zoom 2");
  const svg = parseHTML(c.svg).document.querySelector("svg")!;
  const circles = Array.from(svg.querySelectorAll("g[aria-label=dot] circle")).filter((c) => c.closest("g[stroke=white]") === null);
  assert.equal(circles.length, 4, "data, samples, and both again in the overlay (legend swatches aside)");
  for (const el of circles) {
    const want = el.getAttribute("fill") ?? el.parentElement!.getAttribute("fill")!;
    const [x, y] = ["cx", "cy"].map((k) => Number(el.getAttribute(k)));
    const t = el.closest("g[transform]")?.getAttribute("transform")?.match(/translate\(([-\d.]+),([-\d.]+)\)/);
    const [tx, ty] = t ? [Number(t[1]), Number(t[2])] : [0, 0];
    assert.deepEqual(pixel(img, 2 * (x + tx), 2 * (y + ty)), rgb(want), `point at (${x + tx}, ${y + ty})`);
  }
  // Titles are drawn: dark pixels in the band above the frames (no font = no text = fails).
  let dark = 0;
  for (let y = 0; y < 2 * 20; y++) for (let x = 0; x < img.width; x++) if (pixel(img, x, y)[0] < 100) dark++;
  assert.ok(dark > 100, `title text rendered (${dark} dark pixels)`);
});

test("trajectory: the recorder keeps x_1, evenly spaced states and the end; one panel each", () => {
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
  const pic = trajectoryPicture(rec.snapshots);
  for (const t of ["t = 1.00", "t = 0.60", "t = 0.00"]) assert.ok(pic.svg.includes(`>${t}<`), t);
  const img = decodePng(pic.toPng());
  assert.ok(img.width > 2 * 6 * 180 && img.height > 2 * 180);
});

test("lineplot: finite values only, log axis over a decade, smoothing, a legend for several lines", () => {
  const y = [4, 2, NaN, 1, 0.5, Infinity, 0.25, 0.2, 0.1, 0.1];
  const svg = lossPlot([{ label: "loss", y }], { title: "loss", xLabel: "step", smooth: 0, document: newDocument() });
  const path = svg.querySelector("g[aria-label=line] path")!.getAttribute("d")!;
  assert.equal(path.match(/[ML]/g)?.length, 8, "NaN and Infinity are left out");
  assert.ok(texts(svg).includes("log scale"), "values over a decade get a log axis");
  assert.ok(texts(svg).includes("loss") && texts(svg).includes("step"));
  const flat = lossPlot([{ label: "loss", y: [0.9, 1, 0.95] }], { document: newDocument() });
  assert.ok(!texts(flat).includes("log scale"), "a narrow range stays linear");
  const negative = lossPlot([{ label: "elbo", y: [-3, -1, 2, 40] }], { document: newDocument() });
  assert.ok(!texts(negative).includes("log scale"), "non-positive values keep a linear axis (none dropped)");
  const two = lossPlot([{ label: "train", y: [3, 2, 1] }, { label: "held-out", y: [3, 2.5, 2] }], { document: newDocument() });
  assert.ok(texts(two).includes("train") && texts(two).includes("held-out"), "legend");
  const smooth = lossPlot([{ label: "loss", y: Array.from({ length: 500 }, (_, i) => 1 + (i % 2)) }], { document: newDocument() });
  assert.equal(smooth.querySelectorAll("g[aria-label=line] path").length, 2, "raw line and its moving average");
  const img = decodePng(linePlot([{ label: "loss", y }]).toPng());
  assert.equal(img.width, 2 * 640);
  assert.ok(img.data.some((_, i) => i % 4 === 0 && rgb(colors.data).every((v, k) => Math.abs(img.data[i + k] - v) < 3)), "the line is drawn in its colour");
  assert.doesNotThrow(() => linePlot([{ label: "none", y: [NaN] }]).toPng());
});

test("chart titles wrap at spaces to fit the width instead of running off both edges", () => {
  const long = "held-out bits/char during training (--process block --block 4 --text-length 64); best 2.1399 at step 4000";
  const svg = lossPlot([{ label: "loss", y: [3, 2, 1] }], { title: long, document: newDocument() });
  const lines = Array.from(svg.querySelectorAll(":scope > text"), (t) => t.textContent!);
  assert.ok(lines.length >= 2, `one line: ${lines.join(" | ")}`);
  assert.equal(lines.join(" "), long, "nothing lost or reordered");
  // About 0.6 em per character at the title's size: every line fits the 640-pixel chart.
  for (const l of lines) assert.ok(l.length * 0.6 * 14 <= 640, l);
  const short = lossPlot([{ label: "loss", y: [3, 2, 1] }], { title: "loss", document: newDocument() });
  assert.deepEqual(Array.from(short.querySelectorAll(":scope > text"), (t) => t.textContent), ["loss"]);
});

test("image grid: pixels exact under SVG labels", () => {
  const x = tensor([2, 1, 2, 2], [-1, 1, 0, 0.5, 1, 1, 1, -1]);
  const img = decodePng(imageGrid(x, { cols: 2, scale: 4, gap: 2, title: "t" }).toPng());
  // Title line 20 px, then gap 2: image 0 at (2, 22), image 1 at (2 + 8 + 2, 22).
  const grey = (v: number) => Math.round(((v + 1) / 2) * 255);
  assert.deepEqual(pixel(img, 2 + 1, 22 + 1), [0, 0, 0]);
  assert.deepEqual(pixel(img, 2 + 5, 22 + 1), [255, 255, 255]);
  assert.deepEqual(pixel(img, 2 + 5, 22 + 5), Array(3).fill(grey(0.5)));
  assert.deepEqual(pixel(img, 12 + 5, 22 + 5), [0, 0, 0]);
});

test("report: one self-contained page with the metrics table, charts as inline SVG and PNGs inline", () => {
  const dir = tmp();
  const png = join(dir, "a.png");
  new Canvas(4, 4).save(png);
  const loss = chart((document) => lossPlot([{ label: "loss", y: [3, 2, 1] }], { document }));
  const html = renderReport({
    title: "demo <1>",
    metrics: [{ sampler: "ddpm", "energy distance": 0.00123456 }, { sampler: "ddim", extra: 3 }],
    sections: [{ heading: "Samples", images: [{ path: png, caption: "data & samples" }, { svg: loss.svg, caption: "loss" }] }],
  });
  assert.match(html, /<title>demo &lt;1&gt;<\/title>/);
  assert.match(html, /<tr><th>sampler<\/th><th>energy distance<\/th><th>extra<\/th><\/tr>/);
  assert.match(html, /<td>ddpm<\/td><td>0\.001235<\/td><td><\/td>/);
  assert.ok(html.includes(`data:image/png;base64,${readFileSync(png).toString("base64")}`));
  assert.match(html, /<figcaption>data &amp; samples<\/figcaption>/);
  assert.ok(html.includes(`<figure>${loss.svg}<figcaption>loss</figcaption></figure>`));
  writeFileSync(join(dir, "report.html"), "old");
  writeReport(join(dir, "report.html"), { title: "t", sections: [] });
  assert.match(readFileSync(join(dir, "report.html"), "utf8"), /<h1>t<\/h1>/);
});
