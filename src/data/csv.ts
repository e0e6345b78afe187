import { readFileSync } from "node:fs";
import { parse } from "csv-parse/sync";
import { tensor, type Tensor } from "../core/tensor.js";

/**
 * A user's points from a CSV file: one point per row, `dims` numeric
 * columns (2 by default), an optional header row of names, blank lines and
 * `#` comments ignored. Every problem is a one-line error naming the file,
 * the line and the offending value.
 */
export function readPointsCsv(path: string, dims = 2): Tensor {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read the CSV file: ${code === "ENOENT" ? "no such file (ENOENT)" : code === "EISDIR" ? "it is a folder (EISDIR)" : (code ?? (e as Error).message)}`);
  }
  return parsePointsCsv(text, path, dims);
}

const FLOAT32_MAX = 3.4028234663852886e38;

/** The line on which a never-closed quoted field opens (RFC 4180 quoting, "" escapes a quote). */
function unclosedQuoteLine(text: string): number | undefined {
  let line = 1, open: number | undefined, fieldStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (open !== undefined) {
      if (c === '"' && text[i + 1] === '"') i++;
      else if (c === '"') open = undefined;
      else if (c === "\n") line++;
      continue;
    }
    if (c === '"' && fieldStart) open = line;
    else if (c === "\n") line++;
    if (c !== " " && c !== "\t") fieldStart = c === "," || c === "\n";
  }
  return open;
}

/** The parser behind readPointsCsv; `source` names the text in errors. */
export function parsePointsCsv(text: string, source: string, dims = 2): Tensor {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { info: true, relax_column_count: true, skip_empty_lines: true, trim: true, comment: "#" }) as unknown as typeof records;
  } catch (e) {
    const err = e as Error & { lines?: number; code?: string };
    // csv-parse reports an unclosed quote where the file ends; the user needs the line where it opens.
    const line = err.code === "CSV_QUOTE_NOT_CLOSED" ? unclosedQuoteLine(text) ?? err.lines : err.lines;
    const what = err.code === "CSV_QUOTE_NOT_CLOSED" ? "a quote opens here and is never closed" : err.message.split("\n")[0];
    throw new Error(`${source}${line ? `:${line}` : ""}: malformed CSV (${what})`);
  }
  if (records.length === 0) throw new Error(`${source}: the CSV file has no rows (expected ${dims} numeric columns per row)`);

  const values: number[] = [];
  records.forEach(({ record, info }, index) => {
    const where = `${source}:${info.lines}`;
    if (record.length !== dims) {
      throw new Error(`${where}: expected ${dims} columns, found ${record.length} (${JSON.stringify(record.join(","))})`);
    }
    const nums = record.map(Number);
    const bad = record.findIndex((cell, j) => cell === "" || !Number.isFinite(nums[j]));
    if (bad >= 0) {
      // The first row may be a header of names: all cells non-numeric.
      if (index === 0 && record.every((cell) => cell !== "" && !Number.isFinite(Number(cell)))) return;
      throw new Error(`${where}: column ${bad + 1} is not a finite number: ${JSON.stringify(record[bad])}`);
    }
    // Points are float32: a larger value would become Infinity.
    const huge = nums.findIndex((v) => Math.abs(v) > FLOAT32_MAX);
    if (huge >= 0) throw new Error(`${where}: column ${huge + 1} value ${record[huge]} is outside the float32 range (|x| <= 3.4e38)`);
    values.push(...nums);
  });
  if (values.length === 0) throw new Error(`${source}: the CSV file has a header but no data rows`);
  return tensor([values.length / dims, dims], values);
}
