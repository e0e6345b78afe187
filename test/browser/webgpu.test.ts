import { test } from "node:test";
import assert from "node:assert/strict";
import { openPlayground } from "./page.js";

/**
 * The page's WebGPU path, on Chromium's software Vulkan (SwiftShader) since
 * this machine has no GPU: jax-js picks WebGPU, training and sampling run,
 * and the first training losses equal the Wasm run's (same seed, same
 * batches: only the engine differs). Skipped where Chromium offers no adapter.
 */
test("WebGPU (software adapter): the page picks WebGPU; training and sampling run; the losses match Wasm's", async (t) => {
  const gpu = await openPlayground("", { webgpu: true });
  let gpuLosses: number[];
  try {
    const adapter = await gpu.page.evaluate(async () => Boolean(await (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu?.requestAdapter()));
    if (!adapter) return t.skip("this Chromium offers no WebGPU adapter");
    assert.match((await gpu.page.textContent("#engine")) ?? "", /jax-js on WebGPU/, "an adapter exists, so the page must use it");
    gpuLosses = await gpu.page.evaluate(() => (window as unknown as { udm: { points: { train(n: number): Promise<number[]> } } }).udm.points.train(20));
    const res = await gpu.page.evaluate(() => (window as unknown as { udm: { points: { sample(o: object): Promise<{ energy: number } | undefined> } } }).udm.points.sample({ method: "ddim", steps: 5, n: 200 }));
    assert.ok(res && Number.isFinite(res.energy), (await gpu.page.textContent("#p-sample-status")) ?? "");
    assert.deepEqual(gpu.errors, []);
  } finally {
    await gpu.close();
  }
  const wasm = await openPlayground("?engine=wasm");
  try {
    assert.match((await wasm.page.textContent("#engine")) ?? "", /Wasm/);
    const wasmLosses = await wasm.page.evaluate(() => (window as unknown as { udm: { points: { train(n: number): Promise<number[]> } } }).udm.points.train(20));
    for (let i = 0; i < 20; i++) assert.ok(Math.abs(gpuLosses[i] - wasmLosses[i]) < 1e-3 * Math.max(1, wasmLosses[i]), `step ${i + 1}: WebGPU ${gpuLosses[i]} vs Wasm ${wasmLosses[i]}`);
  } finally {
    await wasm.close();
  }
});
