import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { writeFileAtomic } from "./files.js";

/** A figure: a chart inlined as SVG, or a PNG file embedded as a data URI (the page stands alone either way). */
export interface ReportImage {
  /** SVG text of a chart (Chart.svg), put in the page as is. */
  svg?: string;
  /** A PNG file to embed, where there is no SVG. */
  path?: string;
  caption?: string;
}

export interface ReportSection {
  heading: string;
  text?: string;
  images?: ReportImage[];
}

export interface Report {
  title: string;
  /** Rows of a metrics table; the columns are the union of the rows' keys, in first-seen order. */
  metrics?: Record<string, string | number>[];
  sections: ReportSection[];
  /** Free text under the title (the command line, the date...). */
  note?: string;
}

/** A self-contained HTML page: the metrics table, charts as inline SVG, other pictures as data-URI PNGs. */
export function renderReport(report: Report): string {
  const parts: string[] = [];
  parts.push(`<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>${esc(report.title)}</title>`);
  parts.push(`<style>
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.7em; text-align: right; }
th { background: #f3f3f3; }
td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; }
img, figure > svg { max-width: 100%; height: auto; image-rendering: pixelated; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
</style>\n</head>\n<body>`);
  parts.push(`<h1>${esc(report.title)}</h1>`);
  if (report.note) parts.push(`<p>${esc(report.note)}</p>`);
  if (report.metrics && report.metrics.length > 0) parts.push(metricsTable(report.metrics));
  for (const s of report.sections) {
    parts.push(`<h2>${esc(s.heading)}</h2>`);
    if (s.text) parts.push(`<p>${esc(s.text)}</p>`);
    for (const img of s.images ?? []) parts.push(figure(img));
  }
  parts.push("</body>\n</html>\n");
  return parts.join("\n");
}

export function writeReport(path: string, report: Report): void {
  writeFileAtomic(path, renderReport(report));
}

function figure(img: ReportImage): string {
  const caption = img.caption ? `<figcaption>${esc(img.caption)}</figcaption>` : "";
  if (img.svg !== undefined) return `<figure>${img.svg}${caption}</figure>`;
  if (img.path === undefined) throw new Error("report: a figure needs svg or path");
  const b64 = readFileSync(img.path).toString("base64");
  return `<figure><img alt="${esc(img.caption ?? basename(img.path))}" src="data:image/png;base64,${b64}">${caption}</figure>`;
}

function metricsTable(rows: Record<string, string | number>[]): string {
  const cols: string[] = [];
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  const cell = (v: string | number | undefined) => (v === undefined ? "" : typeof v === "number" ? fmtNumber(v) : esc(v));
  return [
    "<table>",
    `<tr>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}</tr>`,
    ...rows.map((r) => `<tr>${cols.map((c) => `<td>${cell(r[c])}</td>`).join("")}</tr>`),
    "</table>",
  ].join("\n");
}

function fmtNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1e-3 && Math.abs(v) < 1e5 ? v.toPrecision(4) : v.toExponential(3);
}

function esc(s: string): string {
  return s.replace(/[&<>"']/g, (ch) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[ch]!);
}
