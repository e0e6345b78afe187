import { test } from "node:test";
import assert from "node:assert/strict";
import { grad, init, numpy as np } from "@jax-js/jax";
import { silu } from "../src/model/layers.js";

await init("wasm");

test("silu and its gradient are finite and exact far into both tails", async () => {
  const xs = [-200, -100, -89, -20, -1, 0, 0.5, 3, 100, 200];
  const y = await silu(np.array(xs)).data();
  const g = await grad((x: ReturnType<typeof np.array>) => silu(x).sum())(np.array(xs)).data();
  xs.forEach((x, i) => {
    const s = 1 / (1 + Math.exp(-x));
    assert.ok(Math.abs(y[i] - x * s) < 1e-5 * (1 + Math.abs(x)), `silu(${x}) = ${y[i]}`);
    const dg = s + x * s * (1 - s);
    assert.ok(Number.isFinite(g[i]) && Math.abs(g[i] - dg) < 1e-5, `silu'(${x}) = ${g[i]}, expected ${dg}`);
  });
});
