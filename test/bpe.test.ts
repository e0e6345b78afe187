import { test } from "node:test";
import assert from "node:assert/strict";
import { bpeEncoder, bpePieces, splitWords, trainBpe } from "../src/data/bpe.js";
import { decode, gutenbergText, loadText, normaliseText } from "../src/data/text.js";
import { parseTemplate } from "../src/text/infill.js";
import { withCli } from "./support/cli.js";

test("byte-pair merges by hand: 'aaab aaab ab' learns aa, ab, aaab and stops when no pair occurs twice", () => {
  // Words "aaab", " aaab", " ab". Pairs: aa 4, ab 3, " a" 2 -> merge (a, a) = "aa" (id 3).
  // Then (aa, a) 2, (a, b) 3 -> (a, b) = "ab" (id 4); then (aa, ab) 2 -> "aaab" (id 5);
  // then (" ", aaab) 1 and (" ", ab) 1: no pair twice, so no fourth merge although 10 are allowed.
  const bpe = trainBpe("aaab aaab ab", [" ", "a", "b"], 10);
  assert.deepEqual(bpe.merges, [[1, 1], [1, 2], [3, 4]]);
  assert.deepEqual(bpePieces(bpe), [" ", "a", "b", "aa", "ab", "aaab"]);
  const encode = bpeEncoder(bpe);
  // "aaab" is one piece; " aab" applies (a, a) first (rank 0), and no merge joins (aa, b) or (" ", aa).
  assert.deepEqual(encode("aaab aab"), [5, 0, 3, 2]);
  assert.deepEqual(encode(" ab"), [0, 4]);
  assert.throws(() => encode("abc"), /bpe: character "c" is not in the vocabulary/);
  // A tie ("ab" and "cd" twice each) goes to the smaller pair of ids, whatever the order met.
  assert.deepEqual(trainBpe("abab cdcd", [" ", "a", "b", "c", "d"], 10).merges, [[1, 2], [3, 4]]);
});

test("byte-pair tokens of a book: lossless both ways, learned on the training part only, longer than one character", () => {
  const chars = loadText("text:carroll-alice", { length: 32 });
  const d = loadText("text:carroll-alice", { length: 32, merges: 200 });
  assert.ok(d.bpe && d.bpe.merges.length === 200);
  assert.deepEqual(d.bpe.chars, chars.vocab.chars, "the alphabet is the characters' vocabulary");
  assert.equal(d.vocab.chars.length, chars.vocab.chars.length + 200);
  // The words never straddle: splitting is lossless, and decoding the chunks gives the text back.
  const text = decode(chars.train.data, chars.vocab);
  assert.equal(splitWords(text).join(""), text);
  const encode = bpeEncoder(d.bpe);
  assert.equal(decode(encode(text), d.vocab), text);
  assert.equal(d.heldOutText, decode(d.heldOut.data, d.vocab));
  assert.ok(chars.heldOutText.startsWith(d.heldOutText.slice(0, 100)), "the held-out part starts where the characters' does");
  const perToken = d.heldOutText.length / d.heldOut.data.length;
  assert.ok(perToken > 2 && perToken < 4, `200 merges on Alice: ${perToken.toFixed(2)} characters per token`);
  // Merges from the training part only: the held-out text does not change them.
  const full = [...normaliseText(gutenbergText("carroll-alice")).text];
  const trainOnly = trainBpe(full.slice(0, Math.floor(full.length * 0.9)).join(""), chars.vocab.chars, 200);
  assert.deepEqual(trainOnly.merges, d.bpe.merges);
  assert.notDeepEqual(trainBpe(full.join(""), chars.vocab.chars, 200).merges, d.bpe.merges);
  // A checkpoint's merges reproduce the same ids.
  const again = loadText("text:carroll-alice", { length: 32, bpe: d.bpe, vocab: d.vocab });
  assert.deepEqual(again.train.data, d.train.data);
});

test("infill templates: each _ is one token; known runs are encoded on their own (characters or pieces)", () => {
  const bpe = trainBpe("aaab aaab ab", [" ", "a", "b"], 10);
  const encode = bpeEncoder(bpe);
  assert.deepEqual(Array.from(parseTemplate("aaab_ ab__", 8, encode).data), [5, -1, 0, 4, -1, -1, -1, -1]);
  assert.throws(() => parseTemplate("aaab aaab ab_", 4, encode), /the template has 6 tokens, more than the model's length 4/);
});

test("CLI: --text-merges trains, samples, infills and reports bits per character; phrases and a changed --resume are refused", async () => {
  const { loadModel, disposeModel } = await import("../src/cli/pipeline.js");
  const { readFileSync } = await import("node:fs");
  const { join } = await import("node:path");
  await withCli("udm-bpe-", async ({ dir, logs, errors, main }) => {
    const tiny = ["--data", "text:carroll-alice", "--text-length", "16", "--text-merges", "60", "--steps", "3", "--batch-size", "8", "--tf-dim", "16", "--tf-layers", "1", "--quiet"];
    const m = join(dir, "m");
    assert.equal(await main(["train", ...tiny, "--process", "mask", "--out", m]), 0, errors.join("\n"));
    assert.equal(await main(["sample", "--checkpoint", m, "-n", "3", "--steps", "8", "--out", join(dir, "s")]), 0, errors.join("\n"));
    const rows = readFileSync(join(dir, "s", "samples.txt"), "utf8").trimEnd().split("\n");
    assert.equal(rows.length, 3);
    assert.ok(rows.every((r) => [...r].length >= 16) && rows.some((r) => [...r].length > 16), `16 tokens spell 16 characters or more: ${rows.join(" | ")}`);
    // Infilling: the known text is kept (as pieces), each _ is one token.
    assert.equal(await main(["sample", "--checkpoint", m, "-n", "2", "--steps", "8", "--infill", "Alice was ___ and", "--out", join(dir, "inf")]), 0, errors.join("\n"));
    for (const r of readFileSync(join(dir, "inf", "samples.txt"), "utf8").trimEnd().split("\n")) assert.ok(r.startsWith("Alice was "), r);
    // The bound per character: the nats of the rows over the characters the rows spell (not over their 16 tokens).
    logs.length = 0;
    assert.equal(await main(["eval", "--checkpoint", m, "-n", "2", "--steps", "4", "--nll", "--nll-rows", "12", "--json"]), 0, errors.join("\n"));
    const r = JSON.parse(logs.at(-1)!);
    const model = await loadModel(m);
    const held = model.data.heldOut;
    const chars = Array.from({ length: 12 }, (_, b) => model.data.decode!(held.data.subarray(b * 16, b * 16 + 16)).length).reduce((a, n) => a + n, 0) / 12;
    disposeModel(model);
    assert.ok(chars > 16 * 1.5, `60 merges: ${chars} characters per row of 16 tokens`);
    assert.ok(Math.abs(r.bitsPerDim - r.nll / Math.LN2 / chars) < 1e-9, `bits/char ${r.bitsPerDim} = ${r.nll} nats / ln 2 / ${chars} characters`);
    // Refused: byte-pair tokens on phrases, and resuming with other merges.
    assert.equal(await main(["train", ...tiny, "--text-unit", "phrase", "--process", "mask", "--out", join(dir, "p")]), 2);
    assert.ok(errors.some((e) => /--text-merges 60: byte-pair tokens are for chunks/.test(e)), errors.join("\n"));
    assert.equal(await main(["train", ...tiny.map((a) => (a === "60" ? "80" : a)), "--process", "mask", "--out", m, "--resume"]), 2);
    assert.ok(errors.some((e) => /--text-merges 80 conflicts with the checkpoint/.test(e)), errors.join("\n"));
  });
});
