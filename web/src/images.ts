import { tree } from "@jax-js/jax";
import { uniformGrid } from "../../src/core/grid.js";
import { Rng } from "../../src/core/rng.js";
import { sample } from "../../src/core/sampler.js";
import { gatherBatch, tensor, type Tensor } from "../../src/core/tensor.js";
import { inpaint } from "../../src/images/inpaint.js";
import type { ClassCondition } from "../../src/train/network-denoiser.js";
import type { Params } from "../../src/train/types.js";
import { loadDigits, loadModel } from "./models.js";
import { drawImages } from "./pixels.js";
import { imageSetup, type ImageSpec, type ModelFile, type Setup } from "./recipes.js";
import { button, el, nextFrame, numberInput, readNumber, select, slider } from "./ui.js";

const MODELS: [string, string][] = [["mnist-gaussian", "Gaussian noise"], ["mnist-heat", "heat dissipation (blur)"], ["mnist-mask", "pixel masking"]];
const SCALE = 3;

interface Loaded {
  name: string;
  file: ModelFile;
  params: Params;
  setup: Setup;
}

/**
 * The images panel: shipped MNIST checkpoints sampled with the r and steps
 * knobs, the forward strip of each process, and inpainting by painting
 * over a digit.
 */
export function imagesPanel(root: HTMLElement) {
  const row1 = el("div", { class: "row" });
  const row2 = el("div", { class: "row" });
  root.append(row1, row2);

  const modelCard = el("div", { class: "card" }, el("h2", {}, "Model"));
  const mc = el("div", { class: "controls" });
  const modelSel = select(mc, "process", "i-model", MODELS, "mnist-gaussian");
  const rIn = slider(mc, "r", "i-r", 0, 0, 1, 0.05);
  const stepsIn = numberInput(mc, "sampling steps", "i-steps", 20, 1, 1000);
  const countIn = numberInput(mc, "images", "i-count", 16, 1, 64);
  const classSel = select(mc, "digit", "i-class", [["any", "any (unconditional)"], ["all", "0-9, one per image"], ...Array.from({ length: 10 }, (_, d) => [String(d), String(d)] as [string, string])], "any");
  const guideIn = slider(mc, "guidance w", "i-guidance", 0, 0, 4, 0.5);
  modelCard.append(mc);
  const info = el("p", { class: "hint", id: "i-info" }, "loading…");
  const mb = el("div", { class: "buttons" });
  const sampleBtn = button(mb, "Sample", "i-sample", () => runSample());
  const status = el("div", { class: "status", id: "i-status" });
  const grid = el("canvas", { class: "pixels", id: "i-grid" });
  modelCard.append(info, mb, status);
  const gridCard = el("div", { class: "card" }, el("h2", {}, "Samples (x_t live while sampling)"), grid);
  row1.append(modelCard, gridCard);

  const stripCard = el("div", { class: "card" }, el("h2", {}, "Forward process x_t = F_t(x0, eps)"));
  const sbtn = el("div", { class: "buttons" });
  button(sbtn, "Another digit", "i-next-digit", () => { digitIndex = (digitIndex + 1) % 256; void refreshDigit(); }, true);
  const strip = el("div", { class: "strip", id: "i-strip" });
  stripCard.append(sbtn, strip);

  const paintCard = el("div", { class: "card" }, el("h2", {}, "Inpainting"), el("p", { class: "hint" }, "Paint over the digit (drag): painted pixels are unknown and get sampled; the rest is kept."));
  const paint = el("canvas", { class: "pixels", id: "i-paint" });
  paint.style.cursor = "crosshair";
  const pb = el("div", { class: "buttons" });
  const inpaintBtn = button(pb, "Inpaint", "i-inpaint", () => runInpaint());
  button(pb, "Clear paint", "i-clear", () => { mask.fill(0); redrawPaint(); }, true);
  const inpaintOut = el("canvas", { class: "pixels", id: "i-inpainted" });
  const inpaintStatus = el("div", { class: "status", id: "i-inpaint-status" });
  paintCard.append(paint, pb, inpaintStatus, inpaintOut);
  row2.append(stripCard, paintCard);

  let loaded: Loaded | undefined;
  let loading: Promise<Loaded> | undefined;
  let digitIndex = 3;
  const mask = new Uint8Array(784); // 1 = painted = unknown

  async function ensure(): Promise<Loaded> {
    const name = modelSel.value;
    if (loaded?.name === name) return loaded;
    if (loading) {
      const l = await loading;
      if (l.name === name) return l;
    }
    loading = (async () => {
      info.textContent = `loading ${name}…`;
      const digits = await loadDigits();
      const { file, params } = await loadModel(name);
      const setup = imageSetup(file.spec as ImageSpec, digits);
      if (loaded) tree.dispose(loaded.params);
      loaded = { name, file, params, setup };
      const spec = file.spec as ImageSpec;
      classSel.disabled = guideIn.disabled = !spec.classes;
      info.textContent = `${setup.label}: UNet ${JSON.stringify(spec.channels)}${spec.classes ? ", class-conditional" : ""}, trained ${file.training.steps} steps (${file.training.seconds} s, batch ${file.training.batchSize}) on ${file.training.data} by: ${file.command}`;
      return loaded;
    })();
    try {
      return await loading;
    } finally {
      loading = undefined;
    }
  }

  async function runSample(): Promise<{ seconds: number; images: number } | undefined> {
    sampleBtn.disabled = true;
    try {
      const m = await ensure();
      const n = readNumber(countIn, "images"), steps = readNumber(stepsIn, "sampling steps"), r = Number(rIn.value);
      const denoiser = m.setup.denoiser(m.params, condition(m, n));
      const rng = new Rng(Date.now() % 100000);
      const t0 = performance.now();
      const cols = classSel.value === "all" ? Math.min(10, n) : Math.min(8, n);
      try {
        const x = await sample({
          process: m.setup.process, denoiser, grid: uniformGrid(steps), r, rng, x1: m.setup.process.prior([n, 1, 28, 28], rng),
          onStep: async (s) => {
            status.textContent = `step ${s.step + 1} / ${s.steps}, t = ${s.s.toFixed(3)}`;
            drawImages(grid, s.xs, cols, SCALE);
            await nextFrame();
          },
        });
        const seconds = (performance.now() - t0) / 1000;
        drawImages(grid, m.setup.finish(x), cols, SCALE);
        const what = classSel.value === "any" || !(m.file.spec as ImageSpec).classes ? "" : `digit ${classSel.value === "all" ? "0-9" : classSel.value}, guidance ${guideIn.value}, `;
        status.textContent = `${n} samples, ${what}${steps} steps, r = ${r}: ${seconds.toFixed(1)} s (${(n / seconds).toFixed(1)} images/s)`;
        return { seconds, images: n };
      } finally {
        denoiser.dispose();
      }
    } catch (e) {
      status.textContent = `error: ${(e as Error).message}`;
      return undefined;
    } finally {
      sampleBtn.disabled = false;
    }
  }

  /** The class picked (or none), with guidance, for a class-conditional model. */
  function condition(m: Loaded, n: number): ClassCondition | undefined {
    const classes = (m.file.spec as ImageSpec).classes;
    if (!classes) return undefined;
    const w = Number(guideIn.value);
    if (classSel.value === "any") return { label: classes, classes };
    if (classSel.value === "all") return { label: Float32Array.from({ length: n }, (_, i) => i % classes), classes, guidance: w };
    return { label: Number(classSel.value), classes, guidance: w };
  }

  async function refreshDigit(): Promise<void> {
    try {
      const m = await ensure();
      const digits = await loadDigits();
      const x0 = gatherBatch(digits, [digitIndex]);
      const eps = m.setup.process.noise(x0.shape, new Rng(digitIndex));
      strip.replaceChildren();
      for (const t of [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]) {
        const c = el("canvas", { class: "pixels" });
        drawImages(c, m.setup.process.forward(x0, t, eps), 1, 2, 0);
        strip.append(el("figure", {}, c, el("figcaption", {}, `t=${t.toFixed(1)}`)));
      }
      redrawPaint();
    } catch (e) {
      info.textContent = `error: ${(e as Error).message}`;
    }
  }

  let currentDigit: Tensor | undefined;
  function redrawPaint(): void {
    void loadDigits().then((digits) => {
      currentDigit = gatherBatch(digits, [digitIndex]);
      const shown = Float32Array.from(currentDigit.data);
      const withMask = tensor([1, 2, 28, 28], new Float32Array(2 * 784));
      withMask.data.set(shown, 0);
      withMask.data.set(Float32Array.from(mask), 784);
      drawImages(paint, withMask, 1, 8, 0);
    });
  }

  let painting = false;
  const paintAt = (ev: PointerEvent) => {
    const r = paint.getBoundingClientRect();
    const px = Math.floor(((ev.clientX - r.left) / r.width) * 28), py = Math.floor(((ev.clientY - r.top) / r.height) * 28);
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const x = px + dx, y = py + dy;
      if (x >= 0 && x < 28 && y >= 0 && y < 28) mask[y * 28 + x] = 1;
    }
    redrawPaint();
  };
  paint.addEventListener("pointerdown", (ev) => { painting = true; paintAt(ev); });
  paint.addEventListener("pointermove", (ev) => { if (painting) paintAt(ev); });
  window.addEventListener("pointerup", () => (painting = false));

  async function runInpaint(): Promise<Tensor | undefined> {
    inpaintBtn.disabled = true;
    try {
      const m = await ensure();
      if (!currentDigit) throw new Error("no digit loaded yet");
      if (!mask.some((v) => v)) throw new Error("paint over part of the digit first");
      const n = 8, steps = readNumber(stepsIn, "sampling steps"), r = Number(rIn.value);
      const known = tensor([n, 1, 28, 28], Float32Array.from({ length: n * 784 }, (_, i) => currentDigit!.data[i % 784]));
      const keep = tensor([1, 1, 28, 28], Float32Array.from(mask, (v) => 1 - v));
      const denoiser = m.setup.denoiser(m.params, condition(m, n));
      const rng = new Rng(11);
      const t0 = performance.now();
      try {
        const x = await inpaint({
          process: m.setup.process, denoiser, known, mask: keep, grid: uniformGrid(steps), r, rng, revealKnown: m.setup.revealKnown,
          onStep: async (s) => { inpaintStatus.textContent = `step ${s.step + 1} / ${s.steps}`; drawImages(inpaintOut, s.xs, n, SCALE); await nextFrame(); },
        });
        const out = m.setup.finish(x);
        drawImages(inpaintOut, out, n, SCALE);
        inpaintStatus.textContent = `${n} completions of the painted pixels, ${steps} steps, r = ${r}: ${((performance.now() - t0) / 1000).toFixed(1)} s`;
        return out;
      } finally {
        denoiser.dispose();
      }
    } catch (e) {
      inpaintStatus.textContent = `error: ${(e as Error).message}`;
      return undefined;
    } finally {
      inpaintBtn.disabled = false;
    }
  }

  modelSel.addEventListener("change", () => void refreshDigit());
  void refreshDigit();

  return {
    sample: async (opts: { model?: string; steps?: number; count?: number; r?: number; digit?: string; guidance?: number } = {}) => {
      if (opts.digit !== undefined) classSel.value = opts.digit;
      // Sliders show their value from their input event: fire it as a person's drag would.
      if (opts.guidance !== undefined) { guideIn.value = String(opts.guidance); guideIn.dispatchEvent(new Event("input")); }
      if (opts.model && opts.model !== modelSel.value) {
        modelSel.value = opts.model;
        await refreshDigit();
      }
      if (opts.steps) stepsIn.value = String(opts.steps);
      if (opts.count) countIn.value = String(opts.count);
      if (opts.r !== undefined) { rIn.value = String(opts.r); rIn.dispatchEvent(new Event("input")); }
      return runSample();
    },
    paintBox: (x0: number, y0: number, x1: number, y1: number) => {
      mask.fill(0);
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) mask[y * 28 + x] = 1;
      redrawPaint();
    },
    inpaint: runInpaint,
    digit: () => currentDigit,
    mask: () => mask,
    ready: () => ensure().then(() => true),
  };
}
