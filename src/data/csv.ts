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
    throw new Error(`${path}: cannot read the CSV file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parsePointsCsv(text, path, dims);
}

/** The parser behind readPointsCsv; `source` names the text in errors. */
export function parsePointsCsv(text: string, source: string, dims = 2): Tensor {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, { info: true, relax_column_count: true, skip_empty_lines: true, trim: true, comment: "#" }) as unknown as typeof records;
  } catch (e) {
    const err = e as Error & { lines?: number };
    throw new Error(`${source}${err.lines ? `:${err.lines}` : ""}: malformed CSV (${err.message.split("\n")[0]})`);
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
    values.push(...nums);
  });
  if (values.length === 0) throw new Error(`${source}: the CSV file has a header but no data rows`);
  return tensor([values.length / dims, dims], values);
}
