import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tensor, type Tensor } from "../src/core/tensor.js";
import { decodeSafetensors, encodeSafetensors } from "../src/train/safetensors.js";
import { init } from "@jax-js/jax";
import { mlp } from "../src/model/mlp.js";
import {
  checkShapes,
  CONFIG_FILE,
  contentHash,
  fromParams,
  loadCheckpoint,
  saveCheckpoint,
  WEIGHTS_FILE,
  type CheckpointConfig,
  type CheckpointWeights,
} from "../src/train/checkpoint.js";

const tmp = () => mkdtempSync(join(tmpdir(), "udm-ckpt-"));

test("safetensors: roundtrip keeps names, shapes and every float bit", () => {
  const tensors: Record<string, Tensor> = {
    "a.w": tensor([2, 3], [1, -2, 3.5, 1e-38, -0, 3.4e38]),
    b: tensor([], [Math.PI]),
    empty: tensor([0, 4], []),
    "z.long.name": tensor([5], [NaN, Infinity, -Infinity, 1e-45, 7]),
  };
  const bytes = encodeSafetensors(tensors, { note: "hi" });
  const back = decodeSafetensors(bytes);
  assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(tensors).sort());
  for (const [k, t] of Object.entries(tensors)) {
    assert.deepEqual(back.tensors[k].shape, t.shape);
    assert.deepEqual(new Uint8Array(back.tensors[k].data.buffer), new Uint8Array(t.data.buffer), k);
  }
  assert.deepEqual(back.metadata, { note: "hi" });
});

test("safetensors: the bytes follow the spec (u64 LE header length, JSON header, aligned LE f32 data)", () => {
  const bytes = encodeSafetensors({ y: tensor([1], [2]), x: tensor([2], [1, -1]) });
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + n) % 8, 0, "data must start 8-byte aligned");
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  assert.deepEqual(header.x, { dtype: "F32", shape: [2], data_offsets: [0, 8] });
  assert.deepEqual(header.y, { dtype: "F32", shape: [1], data_offsets: [8, 12] });
  const data = bytes.subarray(8 + n);
  // 1.0f = 0x3f800000, -1.0f = 0xbf800000, 2.0f = 0x40000000, little-endian.
  assert.deepEqual([...data], [0, 0, 0x80, 0x3f, 0, 0, 0x80, 0xbf, 0, 0, 0, 0x40]);

  // And a file written by hand (as Python's safetensors would) decodes.
  const head = new TextEncoder().encode('{"t":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}');
  const hand = new Uint8Array(8 + head.length + 4);
  new DataView(hand.buffer).setBigUint64(0, BigInt(head.length), true);
  hand.set(head, 8);
  new DataView(hand.buffer).setFloat32(8 + head.length, 0.5, true);
  const t = decodeSafetensors(hand).tensors.t;
  assert.deepEqual(t.shape, [1, 1]);
  assert.equal(t.data[0], 0.5);
});

test("safetensors: corrupt files give errors naming the file and the problem", () => {
  const good = encodeSafetensors({ w: tensor([4], [1, 2, 3, 4]) });
  assert.throws(() => decodeSafetensors(good.subarray(0, 5), "f.safetensors"), /f\.safetensors: file is 5 bytes, too short/);
  assert.throws(() => decodeSafetensors(good.subarray(0, good.length - 3), "f.safetensors"), /f\.safetensors: tensor "w": data ends at byte 16 but the file has 13 data bytes \(truncated\?\)/);
  const bigLen = Uint8Array.from(good);
  new DataView(bigLen.buffer).setBigUint64(0, 1n << 40n, true);
  assert.throws(() => decodeSafetensors(bigLen, "f.safetensors"), /header length 1099511627776 exceeds the file size/);
  const badJson = Uint8Array.from(good);
  badJson[9] = 0x7b; // '{{' at the start
  assert.throws(() => decodeSafetensors(badJson, "f.safetensors"), /header is not valid JSON/);
  const f16 = new TextEncoder().encode('{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}');
  const buf = new Uint8Array(8 + f16.length + 4);
  new DataView(buf.buffer).setBigUint64(0, BigInt(f16.length), true);
  buf.set(f16, 8);
  assert.throws(() => decodeSafetensors(buf, "g.safetensors"), /g\.safetensors: tensor "h": dtype "F16" is not supported \(only F32\)/);
  assert.throws(() => encodeSafetensors({ w: { shape: [3], data: new Float32Array(2) } }), /tensor "w" has shape \[3\] but 2 values/);
});

function fakeCheckpoint(step: number, fill: number): { config: CheckpointConfig; weights: CheckpointWeights } {
  const w = (v: number) => ({ "l.w": tensor([2, 2], [v, v, v, v]), "l.b": tensor([2], [v, -v]) });
  return {
    config: {
      format: "udm-checkpoint",
      version: 1,
      network: { name: "mlp", config: { inputDim: 2 } },
      process: "gaussian(cosine)",
      objective: { loss: "mse", parameterization: "eps" },
      step,
      seed: 1,
      training: { steps: 100, batchSize: 4, lr: 1e-3, warmup: 0, emaDecay: 0.99, adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8 }, time: "uniform", dataRows: 10 },
      rng: { noise: [1, 2, 3, 4, null], dataEpochStart: [5, 6, 7, 8, 0.5], dataCursor: 3 },
      losses: Array.from({ length: step }, (_, i) => 1 / (i + 1)),
      metadata: { data: "toy" },
      savedAt: new Date(0).toISOString(),
    },
    weights: { params: w(fill), ema: w(fill + 1), adamM: w(fill + 2), adamV: w(fill + 3) },
  };
}

test("checkpoint: save/load roundtrip, and an atomic replace that leaves no temp folders", () => {
  const root = tmp();
  const dir = join(root, "checkpoint");
  try {
    const a = fakeCheckpoint(3, 1);
    saveCheckpoint(dir, a.config, a.weights);
    const ck = loadCheckpoint(dir);
    assert.equal(ck.config.step, 3);
    assert.deepEqual(ck.config.rng.noise, [1, 2, 3, 4, null]);
    assert.deepEqual(ck.config.metadata, { data: "toy" });
    assert.deepEqual([...ck.adamM["l.b"].data], [3, -3]);
    assert.deepEqual([...ck.params["l.w"].data], [1, 1, 1, 1]);
    // A run folder containing checkpoint/ is accepted too.
    assert.equal(loadCheckpoint(root).config.step, 3);

    const b = fakeCheckpoint(5, 10);
    saveCheckpoint(dir, b.config, b.weights);
    assert.equal(loadCheckpoint(dir).config.step, 5);
    assert.deepEqual(readdirSync(root), ["checkpoint"], "no .tmp-/.old- folders left behind");

    // A write that fails half-way (a malformed tensor) leaves the old checkpoint as it was.
    const before = readFileSync(join(dir, WEIGHTS_FILE));
    const c = fakeCheckpoint(7, 20);
    c.weights.ema["l.b"] = { shape: [3], data: new Float32Array(2) };
    assert.throws(() => saveCheckpoint(dir, c.config, c.weights), /has shape \[3\] but 2 values/);
    assert.ok(readFileSync(join(dir, WEIGHTS_FILE)).equals(before));
    assert.deepEqual(readdirSync(root), ["checkpoint"]);

    // A crash between the two renames leaves only the moved-aside copy: the reader finds it.
    renameSync(dir, join(root, "checkpoint.old-123-456"));
    assert.equal(loadCheckpoint(root).config.step, 5);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("checkpoint: missing or corrupt files give errors naming the file and field", () => {
  const root = tmp();
  const dir = join(root, "ck");
  try {
    assert.throws(() => loadCheckpoint(join(root, "nope")), /checkpoint: folder .*nope does not exist/);
    const a = fakeCheckpoint(2, 1);
    saveCheckpoint(dir, a.config, a.weights);
    const cfgPath = join(dir, CONFIG_FILE);
    const cfg = readFileSync(cfgPath, "utf8");

    writeFileSync(cfgPath, cfg.slice(0, 40));
    assert.throws(() => loadCheckpoint(dir), /checkpoint: .*ck\/config\.json is not valid JSON/);
    const edit = (f: (c: any) => void) => {
      const c = JSON.parse(cfg);
      f(c);
      writeFileSync(cfgPath, JSON.stringify(c));
    };
    edit((c) => delete c.step);
    assert.throws(() => loadCheckpoint(dir), /config\.json: field "step" must be a non-negative integer, got undefined/);
    edit((c) => (c.losses = [1]));
    assert.throws(() => loadCheckpoint(dir), /field "losses" must be a list of 2 numbers/);
    edit((c) => (c.training.adam.beta2 = "x"));
    assert.throws(() => loadCheckpoint(dir), /field "training\.adam\.beta2" must be a number/);
    edit((c) => (c.format = "other"));
    assert.throws(() => loadCheckpoint(dir), /field "format" must be "udm-checkpoint"/);
    edit((c) => (c.step = 3) && (c.losses = [1, 2, 3]));
    assert.throws(() => loadCheckpoint(dir), /weights\.safetensors is from step 2 but .*config\.json says step 3 \(mixed files\)/);
    writeFileSync(cfgPath, cfg);

    const wPath = join(dir, WEIGHTS_FILE);
    const w = readFileSync(wPath);
    writeFileSync(wPath, w.subarray(0, w.length - 1));
    assert.throws(() => loadCheckpoint(dir), /ck\/weights\.safetensors: .*truncated/);
    rmSync(wPath);
    assert.throws(() => loadCheckpoint(dir), /ck\/weights\.safetensors is missing/);
    rmSync(cfgPath);
    assert.ok(!existsSync(cfgPath));
    assert.throws(() => loadCheckpoint(dir), /ck\/config\.json is missing \(not a checkpoint folder\?\)/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("checkpoint: non-finite weights are refused naming the tensor; data.safetensors round-trips; contentHash sees every bit", () => {
  const root = tmp();
  const dir = join(root, "checkpoint");
  try {
    const a = fakeCheckpoint(2, 1);
    const rows = { train: tensor([3, 2], [1, 2, 3, 4, 5, 6]), heldOut: tensor([1, 2], [7, 8]) };
    saveCheckpoint(dir, a.config, a.weights, rows);
    const ck = loadCheckpoint(dir);
    assert.deepEqual([...ck.data.train.data], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(ck.data.heldOut.shape, [1, 2]);
    for (const bad of [NaN, Infinity, -Infinity]) {
      const b = fakeCheckpoint(2, 1);
      b.weights.adamV["l.b"] = tensor([2], [0.5, bad]);
      saveCheckpoint(dir, b.config, b.weights);
      assert.throws(() => loadCheckpoint(dir), new RegExp(`weights\\.safetensors: tensor "adam\\.v\\.l\\.b" holds ${bad} at index 1; a checkpoint with non-finite weights cannot be sampled or resumed`));
    }
    const x = tensor([2], [1, 2]);
    assert.equal(contentHash(x), contentHash(tensor([2], [1, 2])));
    assert.notEqual(contentHash(x), contentHash(tensor([2], [1, 2.0000002])));
    assert.notEqual(contentHash(x), contentHash(tensor([1, 2], [1, 2])), "the shape counts");
    assert.match(contentHash(x), /^[0-9a-f]{64}$/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("checkpoint: checkShapes names a missing, extra or wrongly shaped tensor", async () => {
  await init("wasm");
  const net = mlp({ inputDim: 2, hidden: 4, depth: 1 });
  const params = await fromParams(net.init(0));
  const ck = { dir: "/x", params, ema: params, adamM: {}, adamV: {} };
  checkShapes(ck, net);
  const wide = await fromParams(mlp({ inputDim: 2, hidden: 5, depth: 1 }).init(0));
  assert.throws(() => checkShapes({ ...ck, ema: wide }, net), /tensor "ema\.in\.w" has shape \[2, 5\], network mlp .*"hidden":4.* needs \[2, 4\]/);
  const { ["out.b"]: _gone, ...missing } = params;
  assert.throws(() => checkShapes({ ...ck, params: missing }, net), /tensor "params\.out\.b" is missing; network mlp .* needs it, shape \[2\]/);
  assert.throws(() => checkShapes({ ...ck, params: { ...params, extra: tensor([1], [0]) } }, net), /tensor "params\.extra" is not a weight of network mlp/);
});

test("checkpoint: the next write removes a killed writer's temp folders, but never the only complete copy", () => {
  const root = tmp();
  const dir = join(root, "checkpoint");
  try {
    const a = fakeCheckpoint(2, 1);
    saveCheckpoint(dir, a.config, a.weights);
    // A killed writer (pid 999999 is not running) left a temp folder; another one moved the checkpoint aside.
    mkdirSync(join(root, "checkpoint.tmp-999999-1"));
    renameSync(dir, join(root, "checkpoint.old-999998-1"));
    assert.equal(loadCheckpoint(root).config.step, 2, "the aside copy is read");
    const b = fakeCheckpoint(4, 2);
    saveCheckpoint(dir, b.config, b.weights);
    assert.deepEqual(readdirSync(root), ["checkpoint"]);
    assert.equal(loadCheckpoint(root).config.step, 4);
    // A temp folder of a running writer (this process's parent) is left alone.
    const live = join(root, `checkpoint.tmp-${process.ppid}-1`);
    mkdirSync(live);
    saveCheckpoint(dir, a.config, a.weights);
    assert.ok(existsSync(live));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
