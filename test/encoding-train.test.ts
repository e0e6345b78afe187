import { test } from "node:test";
import assert from "node:assert/strict";
import { init, jit, numpy as np, tree, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { cosine } from "../src/core/schedule.js";
import { tensor } from "../src/core/tensor.js";
import { encoding, type Encoder } from "../src/processes/encoding.js";
import { embeddingsHost, encoderNetwork } from "../src/model/encoder-network.js";
import { transformer } from "../src/model/transformer.js";
import { entropy, sampleEnumerable, testStrings } from "../src/oracles/enumerable.js";
import { networkCategorical } from "../src/text/denoiser.js";
import { encodingObjective, onVectors, samplingInput, trainingInput } from "../src/text/encoding.js";
import { encodingNelbo } from "../src/text/encoding-elbo.js";
import { train } from "../src/train/train.js";
import type { Params } from "../src/train/types.js";

await init("wasm");

// Joint training of the encoder E_phi and the denoiser (src/model/encoder-network.ts):
// the network forms x_t itself in training, so E gets the gradient of the
// cross-entropy; sampling feeds it x_t. Small models, fixed seeds.
const dist = testStrings();
const { V, L } = dist;
const d = 4;
const schedule = cosine();
const inner = () => transformer({ vocab: V, length: L, dim: 16, layers: 1, heads: 2, inputDim: d });

async function host(p: JArray): Promise<Float32Array> {
  return (await p.ref.data()) as Float32Array;
}

test("encoder network: the training input (a, b, id, eps) and the sampling input (a, b, x_t) give the same logits", async () => {
  const net = encoderNetwork({ vocab: V, dim: d, norm: "sqrt-d" }, inner());
  const params = net.init(3);
  const enc = { vocab: V, dim: d, table: embeddingsHost(await host(params["encoder.emb"]), "sqrt-d", d) };
  const proc = encoding({ schedule, encoder: enc });
  const rng = new Rng(1);
  const x0 = sampleEnumerable(dist, 8, rng);
  const t = Float32Array.from({ length: 8 }, (_, i) => 0.1 + 0.1 * i);
  const eps = proc.noise(x0.shape, rng);
  const f = jit((p: Params, x: JArray, tt: JArray) => net.apply(p, x, tt));
  const run = async (x: { shape: readonly number[]; data: Float32Array }) => (await f(tree.ref(params), np.array(x.data).reshape([...x.shape]), np.array(t)).data()) as Float32Array;
  const a = await run(trainingInput(schedule, x0, t, eps));
  const b = await run(samplingInput(schedule, proc.forward(x0, t, eps), t));
  assert.equal(a.length, 8 * L * V);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < 2e-3 * (1 + Math.abs(a[i])), `logit ${i}: ${a[i]} vs ${b[i]}`);
  f.dispose();
  tree.dispose(params);
});

test("encoder network at init: the logits are the exact per-position evidence log N(x_t,i; a E(v), b^2 I) (the Transformer's output layer starts at 0)", async () => {
  const net = encoderNetwork({ vocab: V, dim: d, norm: "none" }, inner());
  const params = net.init(4);
  const table = await host(params["encoder.emb"]);
  const proc = encoding({ schedule, encoder: { vocab: V, dim: d, table } });
  const model = networkCategorical(net, params);
  const rng = new Rng(2);
  const x0 = sampleEnumerable(dist, 4, rng);
  const t = 0.35;
  const xt = proc.forward(x0, t, proc.noise(x0.shape, rng));
  const logp = await onVectors(model, schedule).logProbs(xt, t);
  const [a, b] = [schedule.a(t), schedule.b(t)];
  for (let i = 0; i < 4 * L; i++) {
    const ll = Array.from({ length: V }, (_, v) => -Array.from({ length: d }, (_, j) => (xt.data[i * d + j] - a * table[v * d + j]) ** 2).reduce((x, y) => x + y) / (2 * b * b));
    const z = Math.log(ll.reduce((s, l) => s + Math.exp(l - Math.max(...ll)), 0)) + Math.max(...ll);
    for (let v = 0; v < V; v++) assert.ok(Math.abs(logp[i * V + v] - (ll[v] - z)) < 1e-3, `position ${i} token ${v}: ${logp[i * V + v]} vs ${ll[v] - z}`);
  }
  model.dispose();
  tree.dispose(params);
});

test("joint training: the gradient reaches E through x_t; with norm sqrt(d) the used embeddings keep norm sqrt(d), without it they grow", async () => {
  const data = sampleEnumerable(dist, 2000, new Rng(1));
  const norms: Record<string, number[]> = {};
  for (const norm of ["sqrt-d", "none"] as const) {
    const net = encoderNetwork({ vocab: V, dim: d, norm }, inner());
    const p0 = net.init(0);
    const before = await host(p0["encoder.emb"]);
    tree.dispose(p0);
    const proc = encoding({ schedule, encoder: { vocab: V, dim: d, table: before } });
    const res = await train({ process: proc, network: net, objective: encodingObjective(proc), data, steps: 150, batchSize: 64, lr: 3e-3, seed: 0 });
    const after = await host(res.params["encoder.emb"]);
    assert.ok(after.some((x, i) => Math.abs(x - before[i]) > 0.05), `${norm}: encoder.emb did not move`);
    const used = embeddingsHost(after, norm, d);
    norms[norm] = [0, 1, 2].map((v) => Math.hypot(...used.subarray(v * d, v * d + d)));
    tree.dispose([res.params, res.ema]);
  }
  for (const n of norms["sqrt-d"]) assert.ok(Math.abs(n - 2) < 1e-4, `sqrt-d norms ${norms["sqrt-d"]}`);
  assert.ok(Math.min(...norms["none"]) > 2.2, `free norms should grow past their start (about sqrt(d) = 2): ${norms["none"]}`);
});

test("a jointly trained encoding model on the 27 strings: its bits/char bound approaches the entropy", async () => {
  const net = encoderNetwork({ vocab: V, dim: d, norm: "sqrt-d" }, inner());
  const enc: Encoder = { vocab: V, dim: d, table: new Float32Array(V * d) };
  const proc = encoding({ schedule, encoder: enc });
  const res = await train({ process: proc, network: net, objective: encodingObjective(proc), data: sampleEnumerable(dist, 4000, new Rng(1)), steps: 400, batchSize: 64, lr: 3e-3, emaDecay: 0.98, seed: 0 });
  enc.table = embeddingsHost(await host(res.ema["encoder.emb"]), "sqrt-d", d);
  const model = networkCategorical(net, res.ema);
  const r = await encodingNelbo(onVectors(model, schedule), proc, sampleEnumerable(dist, 3000, new Rng(9)), { rng: new Rng(10) });
  const h = entropy(dist) / (L * Math.LN2);
  // Uniform strings would be log2(3) = 1.585 bits/char; the entropy is 1.371.
  assert.ok(r.bitsPerChar < 1.5 && r.bitsPerChar > h - 4 * r.stderrBits, `${r.bitsPerChar} ± ${r.stderrBits} bits/char (entropy ${h})`);
  model.dispose();
  tree.dispose([res.params, res.ema]);
});
