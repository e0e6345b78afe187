import { startEngine } from "./engine.js";
import { imagesPanel } from "./images.js";
import { pointsPanel } from "./points.js";
import { textPanel } from "./text.js";

/**
 * The playground: three panels (2-D points, images, text) over the
 * library's own src/. Everything runs in this page on jax-js. The page sets
 * `window.udm` for the browser tests and the speed bench.
 */
const status = document.getElementById("engine")!;
for (const tab of document.querySelectorAll<HTMLButtonElement>(".tab")) {
  tab.addEventListener("click", () => {
    for (const t of document.querySelectorAll(".tab")) t.classList.toggle("active", t === tab);
    for (const p of document.querySelectorAll(".panel")) p.classList.toggle("active", p.id === tab.dataset.panel);
  });
}

try {
  const engine = await startEngine();
  status.textContent = engine.label;
  const points = pointsPanel(document.getElementById("points")!);
  const images = imagesPanel(document.getElementById("images")!);
  const text = textPanel(document.getElementById("text")!);
  (window as unknown as { udm: unknown }).udm = { engine, points, images, text, ready: true };
} catch (e) {
  status.textContent = `engine failed to start: ${(e as Error).message}`;
  status.classList.add("error");
  throw e;
}
