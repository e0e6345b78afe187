import { uniformGrid } from "../../src/core/grid.js";
import { Rng } from "../../src/core/rng.js";
import { sample } from "../../src/core/sampler.js";
import { tensor, type Tensor } from "../../src/core/tensor.js";
import { infillDenoiser, parseTemplate } from "../../src/text/infill.js";
import type { Params } from "../../src/train/types.js";
import { loadModel } from "./models.js";
import { textSetup, type ModelFile, type TextSpec } from "./recipes.js";
import { button, el, nextFrame, numberInput, readNumber, select, slider } from "./ui.js";

const MODELS: [string, string][] = [["text-mask", "masking (absorbing)"], ["text-replace", "uniform replacement"]];
const EXAMPLE = "Alice was ____ ____ of sitting by her sister";

/**
 * The text panel: a shipped character masking model; type a template with
 * _ for unknown characters and watch the sampler reveal them step by step.
 */
export function textPanel(root: HTMLElement) {
  const card = el("div", { class: "card" }, el("h2", {}, "Infill a template"));
  const info = el("p", { class: "hint", id: "t-info" }, "loading…");
  const template = el("textarea", { id: "t-template", rows: "2" });
  template.value = EXAMPLE;
  const c = el("div", { class: "controls" });
  const modelSel = select(c, "process", "t-model", MODELS, "text-mask");
  const rIn = slider(c, "r", "t-r", 0, 0, 1, 0.05);
  const stepsIn = numberInput(c, "sampling steps", "t-steps", 32, 1, 1000);
  const b = el("div", { class: "buttons" });
  const goBtn = button(b, "Infill", "t-infill", () => runInfill());
  button(b, "Generate from nothing", "t-generate", () => { template.value = ""; return runInfill(); }, true);
  const status = el("div", { class: "status", id: "t-status" });
  const out = el("div", { class: "textout", id: "t-out" });
  card.append(info, el("p", { class: "hint" }, "Write _ for each unknown character; the rest of the model's length is unknown too. Known characters are kept (exact for masking, a heuristic for replacement). Masked characters show as ·, characters changed by the last step in orange."), template, c, b, status, out);
  root.append(card);

  const models = new Map<string, Promise<{ file: ModelFile; params: Params; spec: TextSpec }>>();
  const ensure = async () => {
    const name = modelSel.value;
    if (!models.has(name)) models.set(name, loadModel(name).then(({ file, params }) => ({ file, params, spec: file.spec as TextSpec })));
    const m = await models.get(name)!;
    const spec = m.spec;
    info.textContent = `${m.file.title}: Transformer (dim ${spec.dim}, ${spec.layers} layers), ${spec.chars.length} characters, length ${spec.length}; trained ${m.file.training.steps} steps (${m.file.training.seconds} s) by: ${m.file.command}`;
    return m;
  };
  const loadShown = () => void ensure().catch((e) => (info.textContent = `error: ${(e as Error).message}`));
  modelSel.addEventListener("change", loadShown);
  loadShown();

  function encoder(chars: readonly string[]) {
    const index = new Map(chars.map((ch, i) => [ch, i]));
    return (text: string) => [...text].map((ch) => {
      const id = index.get(ch);
      if (id === undefined) throw new Error(`the character ${JSON.stringify(ch)} is not in the model's vocabulary (${chars.join("").replace(/\n/g, "⏎")})`);
      return id;
    });
  }

  /** The sequence as spans: known template characters, characters revealed this step, still hidden ones. */
  function render(x: Tensor, known: Tensor, prev: Float32Array | undefined, spec: TextSpec, maskId: number | null): void {
    out.replaceChildren();
    for (let i = 0; i < spec.length; i++) {
      const id = x.data[i];
      const hidden = maskId !== null && id === maskId;
      const cls = known.data[i] >= 0 ? "known" : hidden ? "hidden" : prev && prev[i] !== id ? "new" : "";
      out.append(el("span", { class: cls }, hidden ? "·" : (spec.chars[id] ?? "?").replace("\n", "⏎")));
    }
  }

  async function runInfill(): Promise<{ text: string; known: number[] } | undefined> {
    goBtn.disabled = true;
    try {
      const { params, spec } = await ensure();
      const setup = textSetup(spec);
      const known = parseTemplate(template.value, spec.length, encoder(spec.chars));
      const base = setup.denoiser(params);
      const denoiser = infillDenoiser(base, known);
      const steps = readNumber(stepsIn, "sampling steps"), r = Number(rIn.value);
      const rng = new Rng(Date.now() % 100000);
      let prev: Float32Array | undefined;
      try {
        const x = await sample({
          process: setup.process, denoiser, grid: uniformGrid(steps), r, rng, shape: [1, spec.length],
          onStep: async (s) => {
            render(s.xs, known, prev, spec, setup.maskId);
            prev = Float32Array.from(s.xs.data);
            status.textContent = `step ${s.step + 1} / ${s.steps}, t = ${s.s.toFixed(3)}`;
            await new Promise((res) => setTimeout(res, 40));
            await nextFrame();
          },
        });
        // The known characters are forced in x0_hat; at t = 0 the sample is x0_hat.
        const final = tensor(x.shape, x.data);
        render(final, known, undefined, spec, setup.maskId);
        const text = Array.from(final.data, (id) => spec.chars[id]).join("");
        status.textContent = `done: ${steps} steps, r = ${r}`;
        return { text, known: Array.from(known.data) };
      } finally {
        base.dispose();
      }
    } catch (e) {
      status.textContent = `error: ${(e as Error).message}`;
      return undefined;
    } finally {
      goBtn.disabled = false;
    }
  }

  return {
    infill: (t?: string, steps?: number, model?: string) => {
      if (model) modelSel.value = model;
      if (t !== undefined) template.value = t;
      if (steps) stepsIn.value = String(steps);
      return runInfill();
    },
    ready: () => ensure().then(() => true),
  };
}
