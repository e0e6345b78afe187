import assert from "node:assert/strict";
import { test } from "node:test";
import { grad, init, jit, lax, nn, numpy as np, tree, type Array as JArray } from "@jax-js/jax";
import { Rng } from "../src/core/rng.js";
import { lowerJaxpr, nchwcBlockSize, opCounts, rules, traceJaxpr } from "../src/engine/onnx/index.js";
import type { Tuning } from "../src/engine/onnx/index.js";
import { groupNormChannelsFirst } from "../src/model/conv.js";
import { layerNormLast, silu, softmax } from "../src/model/layers.js";
import { compareEngines, randn } from "./support/engine-lower.js";

/**
 * Every lowered primitive against jax-js jit on random inputs: broadcasting,
 * size-1 axes, negative values, int32/uint32/bool dtypes, reductions over
 * several axes, dot in all its broadcast forms, gather/scatter, and conv with
 * strides, padding (also negative), dilations, groups and its gradients.
 * Each case also checks that its trace holds the primitives it is meant to
 * test; the last test checks that every rule is exercised by some case.
 */

await init("wasm");

const rng = new Rng(7);
const ints = (shape: number[], lo: number, hi: number, dtype = np.int32) => {
  const values = Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => lo + rng.int(hi - lo));
  return np.array(dtype === np.uint32 ? Uint32Array.from(values) : Int32Array.from(values), { shape, dtype });
};
const bools = (shape: number[]) => np.array(Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.uniform() < 0.5), { shape });
const pos = (shape: number[]) => np.abs(randn(shape, rng)).add(0.1);

const exercised = new Set<string>();

function primitives(fn: (...a: any[]) => any, args: unknown[]): Set<string> {
  const { closed } = traceJaxpr(fn, args);
  const found = new Set([...closed.jaxpr.eqns, ...closed.jaxpr.flatten().eqns].map((e) => e.primitive as string));
  closed.dispose();
  return found;
}

/** Compare `fn` on both engines; `expect` are primitives its trace must contain; `tol` 0 means exact. */
async function check(name: string, fn: (...a: any[]) => any, args: unknown[], expect: string[], tol = 1e-5) {
  const found = primitives(fn, tree.ref(args as never) as unknown[]);
  for (const p of expect) assert.ok(found.has(p), `${name}: the trace has no "${p}" (it has ${[...found].join(", ")})`);
  for (const p of found) exercised.add(p);
  const r = await compareEngines(fn, args);
  assert.ok(r.worst <= tol, `${name}: error ${r.worst} > ${tol} (${r.where})`);
}

test("elementwise arithmetic with broadcasting, size-1 axes, literals and negative values", async () => {
  const f = (a: JArray, b: JArray, c: JArray) => [
    a.ref.add(b.ref).mul(c.ref),
    np.minimum(a.ref, b.ref).sub(np.maximum(b.ref, c.ref)),
    np.negative(a.ref).mul(2.5).add(-1),
    np.reciprocal(c.ref.add(3)),
    a.div(b.add(0.5)),
  ];
  await check("arith", f, [randn([3, 1, 4], rng), randn([5, 1], rng), randn([4], rng)], ["add", "mul", "min", "max", "neg", "reciprocal"]);
});

test("large broadcast binary ops (a small operand is widened for ONNX Runtime's inner loop)", async () => {
  const f = (x: JArray, s: JArray, b: JArray) => [x.ref.mul(s.ref).add(s), x.reshape([32, 16, 16, 8]).add(b)];
  const args = [randn([32, 256, 4, 2], rng), randn([32, 1, 4, 1], rng), randn([8], rng)];
  const { closed } = traceJaxpr(f, tree.ref(args as never) as unknown[]);
  assert.equal(opCounts(lowerJaxpr(closed).model).get("Expand"), 3);
  closed.dispose();
  await check("widened broadcast", f, args, ["mul", "add"]);
});

test("unary float functions", async () => {
  const f = (x: JArray, p: JArray, u: JArray) => [
    np.sin(x.ref), np.cos(x.ref), np.exp(x.ref), np.tanh(x.ref), np.floor(x.ref), np.ceil(x.ref), np.arctan(x.ref),
    lax.erf(x.ref), lax.erfc(x), np.log(p.ref), np.sqrt(p), np.arcsin(u),
  ];
  const u = np.array(Float32Array.from({ length: 12 }, () => 2 * rng.uniform() - 1), { shape: [3, 4] });
  await check("unary", f, [randn([3, 4], rng, 2), pos([3, 4]), u], ["sin", "cos", "exp", "floor", "ceil", "atan", "erf", "erfc", "log", "sqrt", "asin"]);
});

const ops = (fn: (...a: any[]) => any, args: unknown[], tuning?: Tuning) => {
  const { closed } = traceJaxpr(fn, tree.ref(args as never) as unknown[]);
  const counts = opCounts(lowerJaxpr(closed, { tuning }).model);
  closed.dispose();
  return counts;
};

test("jax-js's tanh and its gradient become ONNX Tanh (verified by hash); a user jit named tanh is inlined", async () => {
  const x = randn([3, 5], rng, 3);
  const f = (x: JArray) => [np.tanh(x.ref), grad((y: JArray) => np.sum(np.tanh(y.ref).mul(y)))(x)];
  assert.equal(ops(f, [x]).get("Tanh"), 2);
  assert.equal(ops(f, [x]).get("Exp"), undefined);
  await check("tanh fused", f, [x], ["jit"]);
  const tanh = jit(function tanh(y: JArray) {
    return y.mul(3);
  });
  const g = (x: JArray) => tanh(x).add(1);
  assert.equal(ops(g, [x]).get("Tanh"), undefined);
  await check("user tanh", g, [x], ["jit"]);
});

test("the models' SiLU becomes QuickGelu, under grad Sigmoid and a closed-form gradient (verified by hash); a user jit named silu is inlined", async () => {
  // Large negative inputs too: the gradient stays finite (x s (1 - s) -> 0).
  const x = randn([4, 6], rng, 3).add(np.array([-100, 0, 0, 0, 0, 0]));
  const f = (x: JArray) => [silu(x.ref), grad((y: JArray) => np.sum(silu(y.ref).mul(y)))(x)];
  const counts = ops(f, [x]);
  assert.equal(counts.get("com.microsoft.QuickGelu"), 1);
  assert.equal(counts.get("Sigmoid"), 1);
  assert.equal(counts.get("Tanh"), undefined);
  await check("silu fused", f, [x], ["jit"]);
  const userSilu = jit(function silu(y: JArray) {
    return y.mul(3);
  });
  const g = (x: JArray) => [userSilu(x.ref), grad((y: JArray) => np.sum(userSilu(y)))(x)];
  assert.equal(ops(g, [x]).get("Sigmoid"), undefined);
  assert.equal(ops(g, [x]).get("com.microsoft.QuickGelu"), undefined);
  await check("user silu", g, [x], ["jit"]);
});

test("jax-js's gelu (the Transformer's) becomes FastGelu, under grad one Sigmoid and a closed-form gradient (verified by hash); a user jit named gelu is inlined", async () => {
  const x = randn([4, 6], rng, 3).add(np.array([-30, 30, 0, 0, 0, 0]));
  const f = (x: JArray) => [nn.gelu(x.ref), grad((y: JArray) => np.sum(nn.gelu(y.ref).mul(y)))(x)];
  const counts = ops(f, [x]);
  assert.equal(counts.get("com.microsoft.FastGelu"), 1);
  // (1 + tanh u) / 2 is sigmoid(2u).
  assert.equal(counts.get("Sigmoid"), 1);
  assert.equal(counts.get("Tanh"), undefined);
  assert.equal(counts.get("Where"), undefined);
  await check("gelu fused", f, [x], ["jit"]);
  const userGelu = jit(function gelu(y: JArray) {
    return y.mul(3);
  });
  const g = (x: JArray) => [userGelu(x.ref), grad((y: JArray) => np.sum(userGelu(y)))(x)];
  assert.equal(ops(g, [x]).get("com.microsoft.FastGelu"), undefined);
  await check("user gelu", g, [x], ["jit"]);
});

test("the models' softmax and LayerNorm (last axis) are Softmax and fused passes, their gradients closed-form (verified by hash); user jits of those names are inlined", async () => {
  const x = randn([3, 4, 6], rng, 4).add(np.array([50, 0, 0, 0, 0, -50]));
  const r = randn([3, 4, 6], rng);
  const sm = (x: JArray) => [softmax(x.ref), grad((y: JArray) => np.sum(softmax(y).mul(r.ref)))(x)];
  assert.equal(ops(sm, [x]).get("Softmax"), 2);
  assert.equal(ops(sm, [x]).get("Exp"), undefined);
  await check("softmax fused", sm, [x], ["jit"]);
  const [g, b] = [randn([6], rng), randn([6], rng)];
  const loss = (x: JArray, g: JArray, b: JArray) => np.sum(layerNormLast(x, g, b).mul(r.ref));
  const ln = (x: JArray, g: JArray, b: JArray) => [layerNormLast(x.ref, g.ref, b.ref), ...(grad(loss, { argnums: [0, 1, 2] } as never)(x, g, b) as JArray[])];
  // A LayerNormalization in the call and the fused primal; two means in the fused gradient.
  const lnOps = ops(ln, [x, g, b]);
  assert.equal(lnOps.get("LayerNormalization"), 2);
  assert.equal(lnOps.get("ReduceMean"), 2);
  await check("layer norm fused", ln, [x, g, b], ["jit"]);
  const userSoftmax = jit(function softmax(y: JArray) {
    return y.mul(2);
  });
  const u = (x: JArray) => [userSoftmax(x.ref), grad((y: JArray) => np.sum(userSoftmax(y)))(x)];
  assert.equal(ops(u, [x]).get("Softmax"), undefined);
  await check("user softmax", u, [x], ["jit"]);
  r.dispose();
});

test("the UNet's channels-first group norm and its gradient are fused (closed-form gradient, verified by hash); a user jit named groupNorm is inlined", async () => {
  const gn = groupNormChannelsFirst(2);
  const [s, b, x, r] = [randn([4], rng), randn([4], rng), randn([3, 4, 5, 6], rng, 2).add(1), randn([3, 4, 5, 6], rng)];
  const loss = (s: JArray, b: JArray, x: JArray, r: JArray) => np.sum(gn(x, s, b).mul(r));
  const f = (s: JArray, b: JArray, x: JArray, r: JArray) => [gn(x.ref, s.ref, b.ref), ...(grad(loss, { argnums: [0, 1, 2] } as never)(s, b, x, r) as JArray[])];
  // One LayerNormalization (standardising each group) in each of the call and the fused primal, one
  // BatchNormalization (the affine map) in the call and one in the gradient (the primal's own output
  // is never read under grad, so it is left out); no means: per-channel sums.
  const counts = ops(f, [s, b, x, r]);
  assert.equal(counts.get("LayerNormalization"), 2);
  assert.equal(counts.get("BatchNormalization"), 2);
  assert.equal(counts.get("ReduceMean"), undefined);
  await check("group norm fused", f, [s, b, x, r], ["jit"]);
  const userNorm = jit(function groupNorm(x: JArray, s: JArray, b: JArray) {
    return x.mul(s.reshape([4, 1, 1])).add(b.reshape([4, 1, 1]));
  });
  const g = (s: JArray, b: JArray, x: JArray) => grad((s: JArray, b: JArray, x: JArray) => np.sum(userNorm(x, s, b)), { argnums: [0, 1, 2] } as never)(s, b, x);
  assert.equal(ops(g, [s, b, x]).get("ReduceMean"), undefined);
  await check("user groupNorm", g, [randn([4], rng), randn([4], rng), randn([3, 4, 5, 6], rng)], ["jit"]);
});

test("idiv and mod: C semantics (toward zero, sign of the numerator) on float32 and int32", async () => {
  const f = (a: JArray, b: JArray) => [np.trunc(a.ref.mul(3)), np.fmod(a.ref, b.ref), np.remainder(a, b)];
  await check("float idiv/mod", f, [randn([4, 5], rng, 4), randn([5], rng, 2).add(0.01)], ["idiv", "mod"]);
  const g = (a: JArray, b: JArray) => [np.floorDivide(a.ref, b.ref), np.remainder(a.ref, b.ref), np.fmod(a, b)];
  await check("int idiv/mod", g, [ints([4, 5], -20, 20), ints([5], 1, 6).mul(np.array([1, -1, 1, -1, 1], { dtype: np.int32 }))], ["idiv", "mod"], 0);
});

test("compare and where on float32, int32 and bool, with broadcasting", async () => {
  const f = (a: JArray, b: JArray) => [
    np.less(a.ref, b.ref), np.lessEqual(a.ref, b.ref), np.greater(a.ref, b.ref), np.equal(a.ref, a.ref.mul(0).add(b.ref)), np.notEqual(a.ref, b.ref),
    np.where(np.less(a.ref, 0), a.ref, b.ref.mul(2)),
  ];
  await check("compare float", f, [randn([3, 4], rng), randn([4], rng)], ["compare", "where"], 0);
  await check("compare int", f, [ints([3, 4], -3, 3), ints([4], -3, 3)], ["compare", "where"], 0);
  // (jax-js's Wasm back end has no ordering of bools.)
  const g = (a: JArray, b: JArray) => [np.equal(a.ref, b.ref), np.notEqual(a.ref, b.ref), np.where(a.ref, 1.5, -2), np.where(b, a.ref, np.logicalNot(a))];
  await check("compare bool", g, [bools([3, 4]), bools([4])], ["compare", "where"], 0);
});

test("casts, boolean logic, integer bit operations, uint32", async () => {
  const f = (x: JArray, i: JArray, b: JArray) => [
    x.ref.astype(np.int32), i.ref.astype(np.float32), b.ref.astype(np.float32), x.ref.astype(np.bool), i.ref.astype(np.bool),
    np.logicalAnd(b.ref, x.ref.astype(np.bool)), np.logicalOr(b.ref, np.less(x.ref, 0)), np.logicalXor(b.ref, np.less(x, 0.5)), np.logicalNot(b),
    np.bitwiseAnd(i.ref, 6), np.bitwiseOr(i.ref, 1), np.bitwiseXor(i, 5),
  ];
  const x = randn([3, 4], rng, 3);
  await check("cast/logic", f, [x, ints([3, 4], -9, 9), bools([3, 4])], ["cast", "bit_combine"], 0);
  const u = (a: JArray, b: JArray) => [a.ref.add(b.ref), a.ref.mul(b.ref), np.less(a.ref, b.ref), np.maximum(a.ref, b), a.astype(np.float32)];
  await check("uint32", u, [ints([3, 4], 0, 1000, np.uint32), ints([4], 0, 1000, np.uint32)], ["add", "mul", "compare", "max"], 0);
});

test("reductions over one and several axes, keepdims, over a broadcast axis, on int32 and bool", async () => {
  const f = (x: JArray, s: JArray) => [
    np.sum(x.ref, [0, 2]), np.max(x.ref, 1), np.min(x.ref, [1, 2], { keepdims: true }), np.prod(x.ref.mul(0.5), 2), np.mean(x.ref),
    // A reduction over an axis the input is only broadcast along (lazy in ONNX).
    np.sum(np.broadcastTo(s.ref.reshape([3, 1, 1]), [3, 4, 5]), [1, 2]), np.max(np.broadcastTo(s.ref.reshape([3, 1]), [3, 6]), 1),
    np.prod(np.broadcastTo(s.reshape([3, 1]), [3, 3]).mul(0.7), 1),
  ];
  await check("reduce float", f, [randn([3, 4, 5], rng), randn([3], rng)], ["reduce", "broadcast"]);
  const g = (i: JArray, b: JArray) => [np.sum(i.ref, [0, 1]), np.max(i.ref, 0), np.min(i, 1), np.any(b.ref, 1), np.all(b, 0)];
  await check("reduce int/bool", g, [ints([4, 5], -50, 50), bools([4, 5])], ["reduce"], 0);
  // Sums over the blocks of an image (a 2x2 mean pool, 2x3 blocks, and the gradient of nearest upsampling) are AveragePool.
  const blocks = (x: JArray, y: JArray, r: JArray) => [
    np.mean(x.ref.reshape([4, 3, 8, 2, 10, 2]), [3, 5]), np.sum(x.reshape([4, 3, 8, 2, 5, 4]), [5, 3]),
    grad((y: JArray) => np.sum(np.broadcastTo(y.reshape([4, 3, 8, 1, 10, 1]), [4, 3, 8, 2, 10, 2]).reshape([4, 3, 16, 20]).mul(r)))(y),
  ];
  const bargs = [randn([4, 3, 16, 20], rng), randn([4, 3, 8, 10], rng), randn([4, 3, 16, 20], rng)];
  assert.equal(ops(blocks, bargs).get("AveragePool"), 3);
  await check("block sums", blocks, bargs, ["reduce"]);
});

test("dot: matrix, batched, broadcast batch, vector, int32, and a broadcast operand that stays lazy", async () => {
  const f = (a: JArray, b: JArray, c: JArray, d: JArray, v: JArray, s: JArray) => [
    np.matmul(a.ref, b.ref), // [3,4] @ [4,5]
    np.matmul(c.ref, d.ref), // [2,1,3,4] @ [5,4,6] -> [2,5,3,6]
    np.matmul(v.ref, b.ref), np.matmul(a.ref, v.ref.reshape([4])), np.dot(a.ref, b.ref), np.tensordot(c.ref, d.ref.transpose([1, 0, 2]).reshape([4, 30]), 1),
    // The pattern `grad` produces: broadcast -> transpose -> dot.
    np.matmul(np.broadcastTo(s.ref.reshape([3, 1]), [3, 4]), b.ref), np.matmul(a, np.broadcastTo(s.reshape([1, 3]).slice([], [0, 1]), [4, 5])),
  ];
  await check("dot", f, [randn([3, 4], rng), randn([4, 5], rng), randn([2, 1, 3, 4], rng), randn([5, 4, 6], rng), randn([1, 4], rng), randn([3], rng)], ["dot", "broadcast"]);
  await check("dot int", (a: JArray, b: JArray) => np.matmul(a, b), [ints([3, 4], -5, 5), ints([2, 4, 2], -5, 5)], ["dot"], 0);
  // Gradients of matmul chains: the dots `grad` emits.
  const loss = (w: JArray, x: JArray) => np.sum(np.tanh(np.matmul(np.matmul(x, w.ref), w.transpose([1, 0]))));
  await check("dot grad", (w: JArray, x: JArray) => grad(loss)(w, x), [randn([4, 4], rng), randn([2, 3, 4], rng)], ["dot"]);
});

test("movement: transpose, reshape, broadcast, concatenate (of broadcasts), split, slice, pad, flip", async () => {
  const f = (x: JArray, s: JArray) => [
    x.ref.transpose([2, 0, 1]), x.ref.reshape([4, 15]), np.broadcastTo(s.ref.reshape([1, 3, 1]), [2, 3, 4]),
    np.concatenate([x.ref, np.broadcastTo(s.ref.reshape([1, 3, 1]), [1, 3, 5]), x.ref.mul(2)], 0),
    ...np.split(x.ref, [1, 3], 1), x.ref.slice([1, 4], [], [2, 5]), np.pad(x.ref, [[1, 0], [0, 2], [3, 1]]), np.flip(x.ref, [0, 2]),
    // Reshape of a broadcast that only adds unit axes stays lazy; one that mixes axes expands.
    np.broadcastTo(s.ref.reshape([3, 1]), [3, 5]).reshape([1, 3, 1, 5]), np.broadcastTo(s.reshape([3, 1]), [3, 4]).reshape([12]),
    np.pad(np.broadcastTo(x.slice([0, 1], [0, 1], [0, 1]).reshape([1, 1]), [3, 2]), [[1, 1], [0, 0]]),
  ];
  await check("movement", f, [randn([4, 3, 5], rng), randn([3], rng)], ["transpose", "reshape", "broadcast", "concatenate", "split", "shrink", "pad", "flip"], 0);
  const g = (b: JArray, i: JArray) => [np.concatenate([b.ref, b.ref], 1), np.flip(i.ref, [1]), np.pad(i, [[0, 1], [2, 0]]), b.transpose([1, 0])];
  await check("movement int/bool", g, [bools([2, 3]), ints([2, 3], -9, 9)], ["concatenate", "flip", "pad", "transpose"], 0);
});

test("a transpose that only moves size-1 axes is a reshape (no copy), in transpose, dot and gather", async () => {
  const f = (x: JArray, w: JArray, i: JArray) => [
    x.ref.transpose([1, 0, 2]), x.ref.reshape([4, 5, 1]).transpose([0, 2, 1]),
    // matrix x vector: the vector operand's [1, K] -> [K, 1] moves only a size-1 axis.
    np.matmul(w, x.ref.reshape([4, 5]).slice([], [0, 1])), np.take(x.reshape([4, 1, 5]), i, 1),
  ];
  const args = [randn([4, 1, 5], rng), randn([3, 4], rng), ints([2], 0, 1)];
  assert.equal(ops(f, args).get("Transpose") ?? 0, 0);
  await check("unit-axis transposes", f, args, ["transpose", "dot", "gather"]);
});

test("short-span repeats (nearest upsampling, the gradient of a 2x2 mean) are ONNX Resize, longer ones Expand", async () => {
  const up = (x: JArray) => np.broadcastTo(x.reshape([4, 3, 16, 1, 20, 1]), [4, 3, 16, 2, 20, 3]).reshape([4, 3, 32, 60]);
  const pool = (x: JArray, r: JArray) => grad((x: JArray) => np.sum(np.mean(x.reshape([4, 3, 16, 2, 20, 3]), [3, 5]).mul(r)))(x);
  const rows = (x: JArray) => np.broadcastTo(x.reshape([4, 1, 3, 320]), [4, 2, 3, 320]).reshape([8, 960]);
  const [x, r, z] = [randn([4, 3, 16, 20], rng), randn([4, 3, 16, 20], rng), randn([4, 3, 320], rng)];
  assert.equal(ops(up, [x]).get("Resize"), 1);
  assert.equal(ops(pool, [randn([4, 3, 32, 60], rng), r]).get("Resize"), 1);
  assert.equal(ops(rows, [z]).get("Resize"), undefined);
  await check("upsample", up, [x], ["broadcast", "reshape"], 0);
  await check("2x2 mean gradient", pool, [randn([4, 3, 32, 60], rng), r], ["broadcast"]);
  await check("row repeat", rows, [z], ["broadcast"], 0);
});

test("gather (one index, several indices, one-hot) and its gradient, a scatter-add", async () => {
  const f = (x: JArray, i: JArray, j: JArray, ids: JArray) => [
    np.take(x.ref, i.ref, 1), x.ref.slice(i.ref, j.ref), nn.oneHot(ids, 4), x.ref.slice([], i.ref.reshape([2, 3])),
  ];
  await check("gather", f, [randn([5, 6, 3], rng), ints([6], 0, 5), ints([6], 0, 6), ints([7], 0, 4)], ["gather"], 0);
  const loss = (x: JArray, i: JArray) => np.sum(np.square(np.take(x, i, 0)));
  await check("scatter", (x: JArray, i: JArray) => grad(loss)(x, i), [randn([5, 3], rng), ints([8], 0, 5)], ["gather", "scatter"]);
});

test("conv: strides, padding (also negative), dilations, groups, 1-D, and the gradients grad produces", async () => {
  const c = (x: JArray, w: JArray) => [
    lax.convGeneralDilated(x.ref, w.ref, [2, 1], [[1, 2], [0, 1]]),
    lax.convGeneralDilated(x.ref, w.ref, [1, 1], [[2, 2], [2, 2]], { rhsDilation: [2, 1] }),
    lax.convGeneralDilated(x.ref, w.ref, [1, 1], [[-1, 0], [1, -1]]),
    lax.convGeneralDilated(x.ref, w.ref, [1, 2], "SAME"),
    lax.convGeneralDilated(x, w, [1, 1], [[1, 1], [1, 1]], { lhsDilation: [2, 3] }),
  ];
  await check("conv", c, [randn([2, 4, 7, 6], rng), randn([3, 4, 3, 2], rng)], ["conv"]);
  const strided = (x: JArray, w: JArray, r: JArray) => np.sum(np.tanh(lax.convGeneralDilated(x, w, [2, 2], [[1, 1], [0, 2]], { rhsDilation: [1, 2] })).mul(r));
  const r = randn([2, 3, 4, 3], rng);
  await check("conv grad", (x: JArray, w: JArray, r: JArray) => grad(strided, { argnums: [0, 1] } as never)(x, w, r), [randn([2, 4, 7, 6], rng), randn([3, 4, 3, 2], rng), r], ["conv"]);
  const grouped = (x: JArray, w: JArray) => np.sum(np.square(lax.convGeneralDilated(x, w, [1, 1], "SAME", { featureGroupCount: 2 })));
  await check("grouped conv + grad", (x: JArray, w: JArray) => [grouped(x.ref, w.ref), ...(grad(grouped, { argnums: [0, 1] } as never)(x, w) as JArray[])], [randn([2, 4, 5, 5], rng), randn([6, 2, 3, 3], rng)], ["conv"]);
  const oneD = (x: JArray, w: JArray) => lax.convGeneralDilated(x, w, [3], [[2, 0]], { lhsDilation: [2] });
  await check("1-D conv", oneD, [randn([2, 3, 9], rng), randn([4, 3, 3], rng)], ["conv"]);
});

test("weight gradients over large images (a conv whose kernel is the output gradient) are one Gemm per kernel offset and equal jax-js", async () => {
  // Cin < Cout shifts the input per kernel offset, Cin > Cout the output
  // gradient; asymmetric padding moves the offsets. Small operands take the
  // pixels-first layout, those over 2 MiB (40 channels x 3 images x 68 x 68)
  // the channels-first one.
  for (const [cin, cout, pad, [H, W]] of [
    [2, 5, [[1, 1], [1, 1]], [12, 10]],
    [5, 2, [[1, 2], [0, 1]], [12, 10]],
    [2, 40, [[1, 1], [1, 1]], [68, 68]],
    [40, 2, [[1, 2], [0, 1]], [68, 68]],
  ] as [number, number, [number, number][], number[]][]) {
    const loss = (w: JArray, x: JArray, r: JArray) => np.sum(np.tanh(lax.convGeneralDilated(x, w, [1, 1], pad)).mul(r));
    const x = randn([3, cin, H, W], rng);
    const w = randn([cout, cin, 3, 3], rng);
    const r = randn([3, cout, H + pad[0][0] + pad[0][1] - 2, W + pad[1][0] + pad[1][1] - 2], rng);
    const wg = (w: JArray, x: JArray, r: JArray) => grad(loss)(w, x, r);
    const { closed } = traceJaxpr(wg, tree.ref([w, x, r] as never) as unknown[]);
    const convs = opCounts(lowerJaxpr(closed).model).get("Conv");
    closed.dispose();
    assert.equal(convs, 1, `${cin} -> ${cout}: only the forward is a Conv`);
    await check(`weight gradient ${cin} -> ${cout} on ${H} x ${W}`, wg, [w, x, r], ["conv"]);
  }
});

test("convs whose channels fit ONNX Runtime's NCHWc blocks run on its blocked kernels (forward and input gradient; padded channels, strides, dilations) and equal jax-js", async () => {
  const block = await nchwcBlockSize();
  // [C, Co]: whole blocks at 8 and 16; 28 pads to 32 (a 31% larger conv, taken); 12 -> 20 pads too much (not taken).
  for (const [cin, cout, taken] of [[32, 32, 3], [28, 28, 3], [12, 20, 0]] as const) {
    const loss = (x: JArray, w: JArray, r: JArray) => np.sum(np.tanh(lax.convGeneralDilated(x, w, [1, 1], [[1, 1], [2, 0]], { rhsDilation: [1, 2] })).mul(r));
    const x = randn([3, cin, 9, 11], rng);
    const w = randn([cout, cin, 3, 3], rng);
    const r = randn([3, cout, 9, 9], rng);
    const f = (x: JArray, w: JArray, r: JArray) => [loss(x.ref, w.ref, r.ref), ...(grad(loss, { argnums: [0, 1] } as never)(x, w, r) as JArray[])];
    const counts = ops(f, [x, w, r], { nchwcBlock: block });
    // The forward (traced twice: the loss and inside grad) and the input gradient (a conv of the output gradient with the flipped kernel); the weight gradient (its channels are the batch, 3) stays a Conv.
    if (block) assert.equal(counts.get("com.microsoft.nchwc.Conv") ?? 0, taken, `${cin} -> ${cout} at block ${block}`);
    await check(`NCHWc conv ${cin} -> ${cout}`, f, [x, w, r], ["conv"], 5e-5); // the loss sums ~7k terms in another order
  }
});

test("a per-channel bias added to a conv output is the conv's bias input (Conv and NCHWc, padded blocks, under grad), unless the output is also used elsewhere", async () => {
  const block = await nchwcBlockSize();
  for (const [cin, cout] of [[3, 5], [32, 32], [28, 28]]) {
    const conv = (x: JArray, w: JArray) => lax.convGeneralDilated(x, w, [1, 1], [[1, 1], [1, 1]]);
    const biased = (x: JArray, w: JArray, b: JArray) => conv(x, w).add(b.reshape([cout, 1, 1]));
    const loss = (x: JArray, w: JArray, b: JArray, r: JArray) => np.sum(np.tanh(biased(x, w, b)).mul(r));
    const f = (x: JArray, w: JArray, b: JArray, r: JArray) => [biased(x.ref, w.ref, b.ref), ...(grad(loss, { argnums: [0, 1, 2] } as never)(x, w, b, r) as JArray[])];
    // The conv output is read twice: its bias stays an Add.
    const shared = (x: JArray, w: JArray, b: JArray) => {
      const y = conv(x, w);
      return [y.ref.add(b.reshape([cout, 1, 1])), y.mul(2)];
    };
    const args = [randn([3, cin, 9, 8], rng), randn([cout, cin, 3, 3], rng), randn([cout], rng), randn([3, cout, 9, 8], rng)];
    const tuning = { nchwcBlock: block };
    assert.equal(ops(f, args, tuning).get("Add") ?? 0, 0, `${cin} -> ${cout}: the bias adds are the convs' inputs`);
    assert.equal(ops(shared, args.slice(0, 3), tuning).get("Add"), 1, `${cin} -> ${cout}: a shared conv output keeps its Add`);
    await check(`conv + bias ${cin} -> ${cout}`, f, args, ["conv"], 5e-5);
    await check(`shared conv + bias ${cin} -> ${cout}`, shared, args.slice(0, 3), ["conv"]);
  }
});

test("every primitive with a lowering rule is exercised above", () => {
  const missing = Object.keys(rules).filter((p) => !exercised.has(p));
  assert.deepEqual(missing, [], `rules without a test: ${missing.join(", ")}`);
});
