import { tree } from "@jax-js/jax";
import { Rng } from "../../src/core/rng.js";
import { scheduleByName, type ScheduleName } from "../../src/core/schedule.js";
import { sliceBatch, tensor, type Tensor } from "../../src/core/tensor.js";
import { toy2d, toy2dNames, type Toy2dName } from "../../src/data/toy2d.js";
import { energyDistance } from "../../src/metrics/energy.js";
import { mlp } from "../../src/model/mlp.js";
import { gaussian, type GaussianProcess } from "../../src/processes/gaussian.js";
import { gaussianDenoiser } from "../../src/train/network-denoiser.js";
import { gaussianObjective, type Parameterization } from "../../src/train/objectives.js";
import { lossPlot } from "../../src/viz/plots/loss.js";
import { dataVsSamplesPlot, scatterPlot } from "../../src/viz/plots/scatter.js";
import { colors } from "../../src/viz/plots/style.js";
import { draw, methods, type Method } from "./sampling.js";
import { LiveTrainer } from "./trainer.js";
import { button, el, nextFrame, numberInput, readNumber, select, show, slider, tick } from "./ui.js";

const TRAIN_ROWS = 8000;
const HELD_OUT = 1000;
const RANGE: [number, number] = [-3, 3];

interface Model {
  trainer: LiveTrainer;
  process: GaussianProcess;
  parameterization: Parameterization;
}

/**
 * The 2-D panel: pick a data set or draw points, train the Gaussian process
 * with an MLP live, sample with the r slider, a preset or an ODE/SDE
 * solver, and animate the forward process and reverse trajectories.
 */
export function pointsPanel(root: HTMLElement) {
  const rowTop = el("div", { class: "row" });
  const rowBottom = el("div", { class: "row" });
  root.append(rowTop, rowBottom);

  // --- data -----------------------------------------------------------
  const dataCard = el("div", { class: "card" }, el("h2", {}, "Data"));
  const dataControls = el("div", { class: "controls" });
  const dataSel = select(dataControls, "data set", "p-data", [...toy2dNames, ["draw", "draw your own"]], "moons");
  dataCard.append(dataControls);
  const drawHint = el("p", { class: "hint" }, "Click or drag in the plot to add points; the data set is the drawn points with a little noise.");
  const clearBtn = el("button", { class: "action secondary", id: "p-clear" }, "clear drawing");
  const dataChart = el("div", { class: "chart", id: "p-data-chart" });
  dataCard.append(drawHint, clearBtn, dataChart);

  // --- model + training ------------------------------------------------
  const trainCard = el("div", { class: "card" }, el("h2", {}, "Model and training"));
  const tc = el("div", { class: "controls" });
  const schedSel = select(tc, "schedule", "p-schedule", ["cosine", "linear-beta", "log-snr", "ve"], "cosine");
  const objSel = select(tc, "objective", "p-objective", [["v", "v"], ["eps", "eps"], ["x0", "x0"]], "v");
  const widthSel = select(tc, "MLP width", "p-width", ["32", "64", "128", "256"], "128");
  const stepsIn = numberInput(tc, "steps", "p-steps", 3000, 10, 100000, 10);
  const batchIn = numberInput(tc, "batch", "p-batch", 256, 8, 4096);
  const lrIn = numberInput(tc, "learning rate", "p-lr", 0.002, 0.00001, 0.1, 0.0001);
  trainCard.append(tc);
  const tb = el("div", { class: "buttons" });
  const trainBtn = button(tb, "Train", "p-train", () => startTraining());

  const stopBtn = button(tb, "Stop", "p-stop", () => void (running = false), true);
  const resetBtn = button(tb, "Reset", "p-reset", () => reset(), true);
  const trainStatus = el("div", { class: "status", id: "p-train-status" }, "not trained yet");
  const lossChart = el("div", { class: "chart", id: "p-loss" });
  trainCard.append(tb, trainStatus, lossChart);

  // --- sampling -------------------------------------------------------
  const sampleCard = el("div", { class: "card" }, el("h2", {}, "Sampling"));
  const sc = el("div", { class: "controls" });
  const methodSel = select(sc, "sampler", "p-method", methods.map(([v, t]) => [v, t] as [string, string]), "generic");
  const rIn = slider(sc, "r (0 = DDIM-like, 1 = DDPM-like)", "p-r", 1, 0, 1, 0.05);
  const sStepsIn = numberInput(sc, "sampling steps", "p-sample-steps", 50, 1, 2000);
  const gridSel = select(sc, "grid", "p-grid", ["uniform", "quadratic"], "uniform");
  const nIn = numberInput(sc, "samples", "p-n", 1000, 10, 5000, 10);
  sampleCard.append(sc);
  const sb = el("div", { class: "buttons" });
  const sampleBtn = button(sb, "Sample", "p-sample", () => runSample());
  const fwdBtn = button(sb, "Animate forward", "p-forward", () => animateForward(), true);
  const revBtn = button(sb, "Animate reverse", "p-reverse", () => animateReverse(), true);
  const sampleStatus = el("div", { class: "status", id: "p-sample-status" });
  const samplesChart = el("div", { class: "chart", id: "p-samples" });
  const animChart = el("div", { class: "chart", id: "p-anim" });
  sampleCard.append(sb, sampleStatus, samplesChart);
  const animCard = el("div", { class: "card narrow" }, el("h2", {}, "Animation"), el("p", { class: "hint" }, "Forward: x_t = a(t) x0 + b(t) eps for t from 0 to 1. Reverse: x_t along a sampling run from t = 1 to 0."), animChart);

  rowTop.append(dataCard, trainCard);
  rowBottom.append(sampleCard, animCard);

  // --- state ----------------------------------------------------------
  let drawn: [number, number][] = [];
  let data = makeData();
  let model: Model | undefined;
  let running = false;
  let lastSample: Tensor | undefined;

  function makeData(): { train: Tensor; heldOut: Tensor; name: string } {
    const name = dataSel.value;
    if (name !== "draw") return { name, train: toy2d(name as Toy2dName, TRAIN_ROWS, 0), heldOut: toy2d(name as Toy2dName, HELD_OUT, 1_000_003) };
    return { name: `drawn (${drawn.length} points)`, train: around(drawn, TRAIN_ROWS, 0), heldOut: around(drawn, HELD_OUT, 1) };
  }

  function drawData(): void {
    const svg = scatterPlot([{ title: data.name, series: [{ points: sliceBatch(data.train, 0, Math.min(1500, data.train.shape[0])), color: colors.data }] }], { size: 300, range: RANGE, document });
    show(dataChart, svg);
    if (dataSel.value === "draw") enableDrawing(svg);
    drawHint.style.display = clearBtn.style.display = dataSel.value === "draw" ? "" : "none";
  }

  function enableDrawing(svg: SVGSVGElement): void {
    const frame = svg.querySelector("rect[aria-label=frame], [aria-label=frame] rect") as SVGRectElement | null; // with facets, Plot nests the rect
    if (!frame) return;
    svg.style.cursor = "crosshair";
    let down = false;
    const add = (ev: PointerEvent) => {
      const m = frame.getScreenCTM();
      if (!m) return;
      const p = new DOMPoint(ev.clientX, ev.clientY).matrixTransform(m.inverse());
      const x0 = frame.x.baseVal.value, y0 = frame.y.baseVal.value, w = frame.width.baseVal.value, h = frame.height.baseVal.value;
      const fx = (p.x - x0) / w, fy = (p.y - y0) / h;
      if (fx < 0 || fx > 1 || fy < 0 || fy > 1) return;
      drawn.push([RANGE[0] + fx * (RANGE[1] - RANGE[0]), RANGE[1] - fy * (RANGE[1] - RANGE[0])]);
    };
    svg.addEventListener("pointerdown", (ev) => { down = true; add(ev); });
    svg.addEventListener("pointermove", (ev) => { if (down) add(ev); });
    const up = () => {
      if (!down) return;
      down = false;
      changeData();
    };
    svg.addEventListener("pointerup", up);
    svg.addEventListener("pointerleave", up);
  }

  function changeData(): void {
    if (dataSel.value === "draw" && drawn.length === 0) {
      data = { name: "drawn (no points yet)", train: tensor([0, 2]), heldOut: tensor([0, 2]) };
    } else data = makeData();
    drawData();
    reset();
  }

  dataSel.addEventListener("change", changeData);
  clearBtn.addEventListener("click", () => { drawn = []; changeData(); });
  for (const s of [schedSel, objSel, widthSel]) s.addEventListener("change", () => reset());
  methodSel.addEventListener("change", () => (rIn.disabled = methodSel.value !== "generic"));

  function reset(): void {
    running = false;
    model?.trainer.dispose();
    model = undefined;
    lastSample = undefined;
    trainStatus.textContent = "not trained yet";
    lossChart.replaceChildren();
    samplesChart.replaceChildren();
    sampleStatus.textContent = "";
  }

  function build(): Model {
    const process = gaussian(scheduleByName(schedSel.value as ScheduleName));
    const parameterization = objSel.value as Parameterization;
    const network = mlp({ inputDim: 2, hidden: Number(widthSel.value), depth: 3 });
    const trainer = new LiveTrainer({
      process, network, objective: gaussianObjective(process, parameterization), data: data.train,
      batchSize: readNumber(batchIn, "batch"), lr: readNumber(lrIn, "learning rate"), warmup: 100, emaDecay: 0.995, seed: 0,
    });
    return { trainer, process, parameterization };
  }

  async function startTraining(maxSeconds = Infinity): Promise<void> {
    if (running) return;
    try {
      if (data.train.shape[0] === 0) throw new Error("draw some points first");
      const total = readNumber(stepsIn, "steps");
      model ??= build();
      const m = model;
      running = true;
      trainBtn.disabled = true;
      const t0 = performance.now(), s0 = m.trainer.step;
      let drawnAt = 0;
      while (running && m.trainer.step < total && model === m && performance.now() - t0 < 1000 * maxSeconds) {
        await m.trainer.run(Math.min(10, total - m.trainer.step));
        const now = performance.now();
        if (now - drawnAt > 400 || m.trainer.step >= total) {
          drawnAt = now;
          const rate = (m.trainer.step - s0) / ((now - t0) / 1000);
          const tail = m.trainer.losses.slice(-100);
          trainStatus.textContent = `step ${m.trainer.step} / ${total}   loss ${(tail.reduce((a, b) => a + b, 0) / tail.length).toFixed(4)}   ${rate.toFixed(0)} steps/s   ${((now - t0) / 1000).toFixed(1)} s`;
          show(lossChart, lossPlot([{ label: "loss", y: m.trainer.losses }], { xLabel: "step", width: 460, height: 220, document }));
          await nextFrame();
        } else await tick();
      }
    } catch (e) {
      trainStatus.textContent = `error: ${(e as Error).message}`;
    } finally {
      running = false;
      trainBtn.disabled = false;
    }
  }

  /** A denoiser from the current EMA weights; the caller disposes it. */
  function currentDenoiser() {
    if (!model || model.trainer.step === 0) throw new Error("train the model first (a few hundred steps at least)");
    const params = model.trainer.emaParams();
    const net = mlp({ inputDim: 2, hidden: Number(widthSel.value), depth: 3 });
    const d = gaussianDenoiser(net, params, model.process, model.parameterization);
    return { model, denoiser: d, dispose: () => { d.dispose(); tree.dispose(params); } };
  }

  async function runSample(record = false): Promise<{ seconds: number; energy: number; floor: number } | undefined> {
    sampleBtn.disabled = true;
    try {
      const { model: m, denoiser, dispose } = currentDenoiser();
      const n = readNumber(nIn, "samples");
      const frames: { t: number; x: Tensor }[] = [];
      const t0 = performance.now();
      sampleStatus.textContent = "sampling…";
      await nextFrame();
      let res;
      try {
        res = await draw(m.process, denoiser, data.heldOut, {
          method: methodSel.value as Method, r: Number(rIn.value), steps: readNumber(sStepsIn, "sampling steps"), grid: gridSel.value as "uniform" | "quadratic", n, seed: 1,
          onStep: record ? (info) => { if (info.step === 0) frames.push({ t: info.t, x: info.xt }); frames.push({ t: info.s, x: info.xs }); } : undefined,
        });
      } finally {
        dispose();
      }
      const seconds = (performance.now() - t0) / 1000;
      lastSample = res.x;
      const k = Math.min(n, data.heldOut.shape[0]);
      const energy = energyDistance(sliceBatch(res.x, 0, k), sliceBatch(data.heldOut, 0, k));
      const floor = energyDistance(sliceBatch(data.train, 0, k), sliceBatch(data.heldOut, 0, k));
      sampleStatus.textContent = `${res.label}: ${n} samples, ${res.nfe} model evaluations, ${seconds.toFixed(2)} s\nenergy distance to held-out ${energy.toFixed(4)} (floor ${floor.toFixed(4)}: training data vs held-out)`;
      show(samplesChart, dataVsSamplesPlot(sliceBatch(data.heldOut, 0, k), res.x, res.label, { size: 200, document }));
      if (record) await play(frames.map((f) => ({ t: f.t, x: f.x })), "reverse");
      return { seconds, energy, floor };
    } catch (e) {
      sampleStatus.textContent = `error: ${(e as Error).message}`;
      return undefined;
    } finally {
      sampleBtn.disabled = false;
    }
  }

  async function animateForward(): Promise<void> {
    const m = model?.process ?? gaussian(scheduleByName(schedSel.value as ScheduleName));
    const x0 = sliceBatch(data.heldOut, 0, Math.min(800, data.heldOut.shape[0]));
    const eps = m.noise(x0.shape, new Rng(7));
    const frames = Array.from({ length: 41 }, (_, i) => i / 40).map((t) => ({ t, x: m.forward(x0, t, eps) }));
    await play(frames, "forward");
  }

  async function animateReverse(): Promise<void> {
    const saved = nIn.value;
    nIn.value = String(Math.min(800, Number(nIn.value) || 800));
    try {
      await runSample(true);
    } finally {
      nIn.value = saved;
    }
  }

  let playing = 0;
  async function play(frames: { t: number; x: Tensor }[], what: string): Promise<void> {
    const id = ++playing;
    const every = Math.max(1, Math.ceil(frames.length / 60));
    const shown = frames.filter((_, i) => i % every === 0 || i === frames.length - 1);
    for (const f of shown) {
      if (id !== playing) return;
      show(animChart, scatterPlot([{ title: `${what}: t = ${f.t.toFixed(3)}`, series: [{ points: f.x, color: what === "forward" ? colors.data : colors.samples }] }], { size: 260, range: RANGE, document }));
      await new Promise((r) => setTimeout(r, 60));
    }
  }

  drawData();
  rIn.disabled = false;

  /** For the tests and the bench: drive the panel without clicks. */
  return {
    train: async (steps: number, maxSeconds?: number) => { stepsIn.value = String(steps); await startTraining(maxSeconds); return model?.trainer.losses ?? []; },
    sample: (opts: { method?: Method; steps?: number; n?: number } = {}) => {
      if (opts.method) {
        methodSel.value = opts.method;
        methodSel.dispatchEvent(new Event("change")); // as a click would: r only applies to the generic sampler
      }
      if (opts.steps) sStepsIn.value = String(opts.steps);
      if (opts.n) nIn.value = String(opts.n);
      return runSample();
    },
    samples: () => lastSample,
    reset,
  };
}

/** n points around the drawn ones: a random drawn point plus N(0, 0.08^2) noise. */
function around(points: [number, number][], n: number, seed: number): Tensor {
  const rng = new Rng(seed);
  const out = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) {
    const p = points[rng.int(points.length)];
    out[2 * i] = p[0] + 0.08 * rng.normal();
    out[2 * i + 1] = p[1] + 0.08 * rng.normal();
  }
  return tensor([n, 2], out);
}
