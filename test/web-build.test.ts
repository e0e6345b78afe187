import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "vite";
import { browserOnly } from "../web/browser-only.js";

/** The playground's bundle (web/, built by Vite from src/) must hold no Node-only module. */

const bundle = async (entry: string) => {
  const root = mkdtempSync(join(tmpdir(), "udm-web-"));
  writeFileSync(join(root, "index.html"), `<!doctype html><script type="module" src="./main.ts"></script>`);
  writeFileSync(join(root, "main.ts"), entry);
  await build({ root, configFile: false, logLevel: "silent", plugins: [browserOnly()], build: { outDir: join(root, "dist"), target: "es2022" } });
  return readdirSync(join(root, "dist", "assets")).map((f) => readFileSync(join(root, "dist", "assets", f), "utf8")).join("\n");
};

test("web build: the page's library modules bundle for the browser; a Node-only import is refused by name", async () => {
  const src = join(process.cwd(), "src");
  // What the page imports from src/: charts, processes, samplers, networks, training pieces.
  const js = await bundle([
    "viz/plots/loss.js", "viz/plots/scatter.js", "viz/plots/trajectory.js", "core/sampler.js", "samplers/presets.js", "samplers/ode.js",
    "samplers/sde.js", "samplers/dpm-solver.js", "processes/pixel-mask.js", "processes/heat.js", "images/inpaint.js", "text/infill.js",
    "text/denoiser.js", "model/unet.js", "model/transformer.js", "train/adam.js", "train/time.js", "train/safetensors.js",
  ].map((m, i) => `import * as m${i} from ${JSON.stringify(join(src, m.replace(/\.js$/, ".ts")))}; console.log(m${i});`).join("\n"));
  assert.ok(js.length > 10_000);
  // No module specifier of a Node-only package is left for the browser to load.
  assert.doesNotMatch(js, /["'](node:[a-z_]+|onnxruntime-node|linkedom|@resvg\/resvg-js|pngjs)["']/);
  // The Node side of the charts (resvg + linkedom) is refused, naming the module.
  await assert.rejects(bundle(`import { chart } from ${JSON.stringify(join(src, "viz/chart.ts"))}; console.log(chart);`), /viz\/chart\.ts imports the Node-only module (node:[a-z]+|@resvg\/resvg-js|linkedom)/);
});
