import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Resvg } from "@resvg/resvg-js";
import { parseHTML } from "linkedom";
import { writeFileAtomic } from "./files.js";
import { svgSize } from "./plots/compose.js";

/**
 * Charts in Node: the browser-safe chart code in plots/ draws into a
 * linkedom document; resvg renders the SVG to PNG with the font shipped in
 * assets/fonts (no system fonts needed, so pictures look the same on every
 * machine). The SVG itself goes inline into HTML reports.
 */
export class Chart {
  /** `zoom`: PNG pixels per SVG pixel (2 gives crisp text; pictures of images use 1). */
  constructor(readonly svg: string, readonly width: number, readonly height: number, readonly zoom = 2) {}

  /** PNG bytes. */
  toPng(zoom = this.zoom): Buffer {
    const resvg = new Resvg(this.svg, {
      background: "white",
      fitTo: { mode: "zoom", value: zoom },
      font: { loadSystemFonts: false, fontFiles: [fontFile()], defaultFontFamily: FONT_FAMILY, sansSerifFamily: FONT_FAMILY },
    });
    return resvg.render().asPng();
  }

  /** Write as PNG (or as SVG when the path ends in .svg), atomically. */
  save(path: string): void {
    writeFileAtomic(path, path.toLowerCase().endsWith(".svg") ? this.svg : this.toPng());
  }
}

/** Anything drawn to a file: a chart, or a picture of images. */
export interface Picture {
  save(path: string): void;
  toPng(): Buffer;
  /** The SVG text, where the picture is a chart (reports inline it). */
  readonly svg?: string;
}

/** Draw a chart with plots/ code (`build` gets the DOM document to draw in). */
export function chart(build: (document: Document) => Element, zoom = 2): Chart {
  const { document } = parseHTML("<!doctype html><html><body></body></html>");
  const svg = build(document as unknown as Document);
  svg.setAttribute("xmlns", "http://www.w3.org/2000/svg");
  const { width, height } = svgSize(svg);
  return new Chart(svg.outerHTML, width, height, zoom);
}

const FONT_FAMILY = "Inter";
const FONT_PATH = join("assets", "fonts", "Inter-Regular.ttf");
let font: string | undefined;

/** The shipped font, found from src/viz (tsx) or dist/src/viz (compiled). */
function fontFile(): string {
  if (font) return font;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let up = 0; up < 5; up++, dir = dirname(dir)) {
    if (existsSync(join(dir, FONT_PATH))) return (font = join(dir, FONT_PATH));
  }
  throw new Error(`charts: the font ${FONT_PATH} is missing from the package (looked above ${fileURLToPath(import.meta.url)})`);
}
