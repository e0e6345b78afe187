import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Rng } from "../../src/core/rng.js";
import { tensor } from "../../src/core/tensor.js";
import { toy2d } from "../../src/data/toy2d.js";
import { energyDistance } from "../../src/metrics/energy.js";
import { openPlayground, type Session } from "./page.js";

/**
 * The playground in a real browser (Debian's chromium, headless, Wasm):
 * `npm run test:browser` (not part of npm test: chromium comes from apt).
 * Screenshots of each panel go to bench/out/browser/ (or UDM_SCREENSHOTS);
 * the README's come from bench/browser.ts --screenshots docs.
 */
const shots = process.env.UDM_SCREENSHOTS ?? "bench/out/browser";
mkdirSync(shots, { recursive: true });

let s: Session;
before(async () => { s = await openPlayground(); });
after(async () => { await s?.close(); });

type Udm = Record<string, Record<string, (...a: unknown[]) => Promise<unknown>>>;
const udm = <T>(panel: string, fn: string, ...args: unknown[]) =>
  s.page.evaluate(([p, f, a]) => ((window as unknown as { udm: Udm }).udm[p as string][f as string])(...(a as unknown[])), [panel, fn, args] as const) as Promise<T>;

test("the page loads with no console errors and says which engine runs", async () => {
  const engine = await s.page.textContent("#engine");
  assert.match(engine ?? "", /jax-js on (WebGPU|Wasm)/);
  assert.deepEqual(s.errors, []);
});

test("2-D: a few hundred steps of live training lower the loss; a sample renders near the data", async () => {
  const losses = await udm<number[]>("points", "train", 300);
  assert.equal(losses.length, 300);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const first = mean(losses.slice(0, 50)), last = mean(losses.slice(-50));
  assert.ok(last < 0.95 * first, `loss falls: first 50 steps ${first.toFixed(4)}, last 50 ${last.toFixed(4)}`);
  assert.match((await s.page.textContent("#p-train-status")) ?? "", /step 300 \/ 300 .* steps\/s/);
  const res = await udm<{ energy: number; floor: number }>("points", "sample", { method: "ddim", steps: 20, n: 500 });
  assert.ok(res && Number.isFinite(res.energy), "sampling finished");
  // Better than the prior: N(0, I) against the same held-out moons.
  const held = toy2d("moons", 500, 1_000_003), rng = new Rng(3);
  const prior = energyDistance(tensor([500, 2], Float32Array.from({ length: 1000 }, () => rng.normal())), held);
  assert.ok(res.energy < 0.5 * prior, `samples (${res.energy.toFixed(4)}) much nearer the data than N(0, I) (${prior.toFixed(4)})`);
  const dots = await s.page.locator("#p-samples svg g[aria-label=dot] circle").count();
  assert.ok(dots >= 2 * 500, `the samples chart shows the points (${dots} dots)`);
  await s.page.locator("#points").screenshot({ path: join(shots, "playground-points.png") });
  assert.deepEqual(s.errors, []);
});

test("2-D: dragging over the data chart draws a data set; the forward animation plays", async () => {
  await s.page.selectOption("#p-data", "draw");
  const box = (await s.page.locator("#p-data-chart svg").boundingBox())!;
  await s.page.mouse.move(box.x + box.width * 0.3, box.y + box.height * 0.5);
  await s.page.mouse.down();
  for (let i = 1; i <= 20; i++) await s.page.mouse.move(box.x + box.width * (0.3 + 0.02 * i), box.y + box.height * 0.5);
  await s.page.mouse.up();
  const titles = await s.page.locator("#p-data-chart svg text").allTextContents();
  assert.ok(titles.some((t) => /^drawn \(2\d points\)$/.test(t)), `data chart titled with the drawn points: ${titles.join(" | ")}`);
  assert.ok((await s.page.locator("#p-data-chart svg g[aria-label=dot] circle").count()) > 1000, "the data set is drawn around them");
  await s.page.click("#p-forward");
  await s.page.waitForFunction(() => document.querySelector("#p-anim svg")?.textContent?.includes("forward: t = 1.000"), null, { timeout: 60_000 });
  await s.page.selectOption("#p-data", "moons");
  assert.deepEqual(s.errors, []);
});

test("images: a grid renders from a shipped MNIST checkpoint, per digit with guidance too; inpainting keeps the unpainted pixels", async () => {
  await s.page.click("button[data-panel=images]");
  const res = await udm<{ images: number }>("images", "sample", { model: "mnist-mask", steps: 6, count: 8 });
  assert.equal(res?.images, 8, (await s.page.textContent("#i-status")) ?? "");
  const size = await s.page.$eval("#i-grid", (c) => [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height]);
  assert.deepEqual(size, [3 * (8 * 30 + 2), 3 * 32], "8 digits in a row, scale 3");
  // Class-conditional: one image per digit, with guidance (two forward passes per step).
  const per = await udm<{ images: number }>("images", "sample", { model: "mnist-gaussian", steps: 3, count: 10, digit: "all", guidance: 1 });
  assert.equal(per?.images, 10, (await s.page.textContent("#i-status")) ?? "");
  assert.match((await s.page.textContent("#i-status")) ?? "", /digit 0-9, guidance 1/);
  await udm("images", "sample", { model: "mnist-mask", steps: 2, count: 8, digit: "any" });
  await udm("images", "paintBox", 6, 14, 22, 24);
  const out = await s.page.evaluate(async () => {
    const u = (window as unknown as { udm: { images: { inpaint(): Promise<{ data: Float32Array } | undefined>; digit(): { data: Float32Array }; mask(): Uint8Array } } }).udm.images;
    const x = await u.inpaint();
    return x && { x: Array.from(x.data), digit: Array.from(u.digit().data), mask: Array.from(u.mask()) };
  });
  assert.ok(out, (await s.page.textContent("#i-inpaint-status")) ?? "");
  let kept = 0;
  for (let b = 0; b < 8; b++) for (let i = 0; i < 784; i++) if (!out.mask[i]) { assert.equal(out.x[b * 784 + i], out.digit[i], `image ${b}, pixel ${i}`); kept++; }
  assert.equal(kept, 8 * (784 - 16 * 10));
  await s.page.locator("#images").screenshot({ path: join(shots, "playground-images.png") });
  assert.deepEqual(s.errors, []);
});

test("text: an infill completes with the known characters kept", async () => {
  await s.page.click("button[data-panel=text]");
  const template = "Alice was ____ ____ of sitting";
  const res = await udm<{ text: string }>("text", "infill", template, 16);
  assert.ok(res, (await s.page.textContent("#t-status")) ?? "");
  [...template].forEach((ch, i) => { if (ch !== "_") assert.equal(res.text[i], ch, `character ${i}`); });
  assert.ok(![...res.text].includes("_"), "every unknown character was filled");
  assert.match((await s.page.textContent("#t-out")) ?? "", /^Alice was .{4} .{4} of sitting/);
  await s.page.locator("#text").screenshot({ path: join(shots, "playground-text.png") });
  assert.deepEqual(s.errors, []);
});
