import { FONT_SIZE } from "./style.js";

/**
 * Lay charts out as one SVG: a title over a chart, charts in a row. Plot
 * draws one chart per call; these put several in one picture without HTML
 * (a `<figure>` would not render to PNG).
 */
const SVG_NS = "http://www.w3.org/2000/svg";

/** Width and height of an SVG element from its attributes. */
export function svgSize(svg: Element): { width: number; height: number } {
  return { width: Number(svg.getAttribute("width")), height: Number(svg.getAttribute("height")) };
}

function frame(document: Document, width: number, height: number): SVGSVGElement {
  const out = document.createElementNS(SVG_NS, "svg") as SVGSVGElement;
  out.setAttribute("xmlns", SVG_NS);
  out.setAttribute("width", String(width));
  out.setAttribute("height", String(height));
  out.setAttribute("viewBox", `0 0 ${width} ${height}`);
  out.setAttribute("font-family", "system-ui, sans-serif");
  const bg = document.createElementNS(SVG_NS, "rect");
  for (const [k, v] of Object.entries({ width: "100%", height: "100%", fill: "white" })) bg.setAttribute(k, v);
  out.appendChild(bg);
  return out;
}

function place(svg: Element, x: number, y: number): Element {
  svg.setAttribute("x", String(x));
  svg.setAttribute("y", String(y));
  return svg;
}

/**
 * A title centred above `svg`, wrapped at spaces into as many lines as it
 * needs to fit the width (a long title on one line is cut off at both edges).
 */
export function titled(document: Document, svg: Element, title: string): SVGSVGElement {
  const { width, height } = svgSize(svg);
  const size = FONT_SIZE + 2;
  // About 0.6 em per character of a bold sans-serif face, with a margin.
  const perLine = Math.max(10, Math.floor((width - 24) / (0.6 * size)));
  const lines: string[] = [];
  for (const word of title.split(" ")) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + 1 + word.length <= perLine) lines[last] += ` ${word}`;
    else lines.push(word);
  }
  const lineHeight = size + 4;
  const top = FONT_SIZE + 14 + (lines.length - 1) * lineHeight;
  const out = frame(document, width, height + top);
  lines.forEach((line, i) => {
    const text = document.createElementNS(SVG_NS, "text");
    for (const [k, v] of Object.entries({ x: String(width / 2), y: String(FONT_SIZE + 6 + i * lineHeight), "text-anchor": "middle", "font-size": String(size), "font-weight": "bold", fill: "black" })) text.setAttribute(k, v);
    text.textContent = line;
    out.appendChild(text);
  });
  out.appendChild(place(svg, 0, top));
  return out;
}

/** Charts side by side, top-aligned, `gap` pixels apart. */
export function row(document: Document, svgs: readonly Element[], gap = 12): SVGSVGElement {
  if (svgs.length === 0) throw new Error("chart row: no charts");
  const sizes = svgs.map(svgSize);
  const width = sizes.reduce((w, s) => w + s.width, 0) + gap * (svgs.length - 1);
  const out = frame(document, width, Math.max(...sizes.map((s) => s.height)));
  let x = 0;
  svgs.forEach((svg, i) => {
    out.appendChild(place(svg, x, 0));
    x += sizes[i].width + gap;
  });
  return out;
}

/** The document to draw in: the one given, else the page's. */
export function documentOf(document: Document | undefined): Document {
  const doc = document ?? (globalThis as { document?: Document }).document;
  if (!doc) throw new Error("charts need a DOM document: pass { document } (in Node, from linkedom)");
  return doc;
}
